"""Where the `guardgate.audit` logger's lines go (`GUARDGATE_AUDIT_LOG`), for every door.

`guardgate serve` configures logging itself, but an app that mounts the middleware (FastAPI,
vLLM) usually configures nothing for `guardgate.audit`: its INFO lines were dropped. By default
(`stderr`) the audit logger is set to INFO and given a fallback handler that writes to stderr only
while no handler of the app's own would receive the line (none on the logger's ancestors): an app
that configures logging gets the lines through its own handlers, once, and one that does not still
sees them. `off` drops them; any other value is a file the lines are appended to (and only there).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from guardgate.settings import SettingsError

__all__ = ["AUDIT_LOGGER", "FallbackStderrHandler", "configure_audit_log"]

AUDIT_LOGGER = "guardgate.audit"


class FallbackStderrHandler(logging.StreamHandler[TextIO]):
    """Writes a record to stderr only when no other handler (on its logger or an ancestor)
    receives it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Write the line unless the app's own handlers will."""
        logger = logging.getLogger(record.name)
        if any(handler is not self for handler in logger.handlers):
            return  # the app attached its own handler to the audit logger
        parent = logger.parent if logger.propagate else None
        while parent is not None:
            if parent.handlers:
                return
            parent = parent.parent if parent.propagate else None
        self.stream = sys.stderr  # the current one (a test's capture replaces it)
        super().emit(record)


class _AuditFileHandler(logging.FileHandler):
    """The audit lines appended to a file (`GUARDGATE_AUDIT_LOG=<path>`)."""


def configure_audit_log(destination: str) -> None:
    """Route the audit logger's lines: `stderr` (fallback, the default), `off`, or a file path.

    Idempotent: a second middleware in the process replaces what the first one set up.
    """
    audit = logging.getLogger(AUDIT_LOGGER)
    for handler in list(audit.handlers):
        if isinstance(handler, FallbackStderrHandler | _AuditFileHandler | logging.NullHandler):
            audit.removeHandler(handler)
            handler.close()
    if destination == "off":
        audit.addHandler(logging.NullHandler())
        audit.propagate = False
        return
    if audit.level == logging.NOTSET or audit.level > logging.INFO:
        audit.setLevel(logging.INFO)
    if destination == "stderr":
        audit.propagate = True
        audit.addHandler(FallbackStderrHandler())
        return
    try:
        # Opened now, so that a path that cannot be written stops start-up, not the first line.
        handler = _AuditFileHandler(destination, encoding="utf-8")
    except OSError as exc:
        raise SettingsError(
            f"invalid guardgate settings: GUARDGATE_AUDIT_LOG: cannot append to {destination!r}: "
            f"{exc.strerror or exc}"
        ) from None
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit.addHandler(handler)
    audit.propagate = False
