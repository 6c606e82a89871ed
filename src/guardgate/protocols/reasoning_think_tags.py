"""Inline `<think>...</think>` reasoning inside answer text, split incrementally.

Open-weight reasoning models served without a reasoning parser put their chain of thought in the
answer text between `<think>` and `</think>`. Often the chat template already wrote `<think>` into
the prompt, so the output holds only `...reasoning...</think>answer`. `ThinkSplitter` takes the
text in arbitrary pieces and says which parts are reasoning and which are answer:

- `think_open=False` (the default): the answer streams at once. Only the first few characters are
  held, while they could still be the start of a `<think>` (after optional whitespace); an
  explicit `<think>` there opens a reasoning span, which lasts until `</think>`. After that, or
  when the text starts otherwise, all text is answer and nothing is held: a plain answer is
  never delayed, and a literal tag inside an answer is left alone.
- `think_open=True` (the prompt ended inside a `<think>`, or the model's template opens one):
  text is *undecided* until the first tag. A `</think>` first means everything before it was
  reasoning; a `<think>` first means what came before was answer. Undecided text is held back,
  because handing it out and then finding a `</think>` would have leaked the reasoning. When the
  text ends without any tag it is reasoning if the prompt really opened the span
  (`unclosed_is_reasoning`: an answer cut by `max_tokens` or a broken stream mid-thought must not
  hand out the trace), else answer (a whole body checked for a bare `</think>` on spec). It is
  released as answer when `release_undecided` is called (as reasoning when the caller knows the
  answer was cut mid-thought); past `max_undecided` chars it is reasoning up to the next
  `</think>` when `unclosed_is_reasoning` (fail closed: memory stays bounded), else answer.
- Inside a span opened by an explicit `<think>`, reasoning is handed on as it comes (to be
  dropped or summarised); only the few characters that could be the start of `</think>` wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any

from guardgate.protocols.reasoning_base import TransformContext
from guardgate.records import record

__all__ = [
    "CLOSE_TAG",
    "FINISHED",
    "OPEN_TAG",
    "TextPart",
    "ThinkSplitter",
    "ThinkTextFilter",
    "unclosed_is_reasoning",
]

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"
_DEFAULT_MAX_UNDECIDED = 1 << 20


FINISHED = frozenset({"stop", "tool_calls", "function_call"})
"""Finish reasons of an answer the model ended itself (not cut by `max_tokens` or a fault)."""


def unclosed_is_reasoning(ctx: TransformContext, choice: dict[str, Any]) -> bool:
    """Whether a whole answer's text that never reached a think tag is reasoning: when the
    model is known to open the span in its template (`ctx.think_open`), or when the answer did
    not end as the model ended it (cut by `max_tokens`: an unlisted think-open model's trace
    would otherwise pass as answer)."""
    return ctx.think_open or choice.get("finish_reason") not in FINISHED


class _Mode(Enum):
    START = 0
    """Nothing decided yet, but only an opening tag at the very start can open reasoning."""
    UNDECIDED = 1
    """The prompt opened a think span: text is reasoning if a `</think>` follows."""
    THINK = 2
    ANSWER = 3


@record
class TextPart:
    """A piece of text and whether it is reasoning. `closed` marks the last piece of a reasoning
    span (its `</think>` was seen, or the text ended); on that piece, `opened` tells whether the
    span's `<think>` was in the output (rather than in the prompt)."""

    text: str
    reasoning: bool
    closed: bool = False
    opened: bool = False


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest proper prefix of `tag` that `text` ends with."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ThinkSplitter:
    """Incremental splitter of answer text into reasoning and answer parts."""

    def __init__(
        self,
        *,
        think_open: bool = False,
        unclosed_is_reasoning: bool = False,
        max_undecided: int = _DEFAULT_MAX_UNDECIDED,
    ):
        self._mode = _Mode.UNDECIDED if think_open else _Mode.START
        self._unclosed_is_reasoning = think_open and unclosed_is_reasoning
        self._held = ""
        self._max_undecided = max_undecided
        self._opened = False
        self._parked: list[str] = []
        """Undecided text already scanned for tags (all of it before `_held`)."""
        self._parked_chars = 0

    @property
    def undecided(self) -> bool:
        """Whether text is being held because no tag has been seen yet."""
        return self._mode is _Mode.UNDECIDED or self._mode is _Mode.START

    def feed(self, text: str) -> list[TextPart]:
        """Add text; return the parts that are now certain, in order."""
        self._held += text
        parts: list[TextPart] = []
        while True:
            if self._mode is _Mode.START:
                body = self._held.lstrip()
                if body.startswith(OPEN_TAG):
                    self._emit(parts, self._held[: len(self._held) - len(body)], reasoning=False)
                    self._enter_think(len(self._held) - len(body))
                elif OPEN_TAG.startswith(body):
                    return parts  # empty, whitespace, or a partial opening tag: wait
                else:
                    self._mode = _Mode.ANSWER
            elif self._mode is _Mode.UNDECIDED:
                close = self._held.find(CLOSE_TAG)
                open_ = self._held.find(OPEN_TAG)
                if close >= 0 and (open_ < 0 or close < open_):
                    before = self._take_undecided(self._held[:close])
                    self._emit(parts, before, reasoning=True, closed=True)
                    self._held = self._held[close + len(CLOSE_TAG) :]
                    self._mode = _Mode.ANSWER
                elif open_ >= 0:
                    self._emit(parts, self._take_undecided(self._held[:open_]), reasoning=False)
                    self._enter_think(open_)
                else:
                    # Park all but a possible partial tag, so each piece is scanned once.
                    cut = max(0, len(self._held) - len(CLOSE_TAG) + 1)
                    if cut:
                        self._parked.append(self._held[:cut])
                        self._parked_chars += cut
                        self._held = self._held[cut:]
                    if self._parked_chars <= self._max_undecided:
                        return parts
                    if self._unclosed_is_reasoning:
                        # Past the cut-off without a tag, fail closed: what was held is
                        # reasoning, and so is what follows until a `</think>`.
                        self._emit(parts, self._take_undecided(""), reasoning=True)
                        self._mode = _Mode.THINK
                        continue
                    self._held = self._take_undecided(self._held)
                    self._mode = _Mode.ANSWER
            elif self._mode is _Mode.THINK:
                close = self._held.find(CLOSE_TAG)
                if close < 0:
                    keep = _partial_suffix(self._held, CLOSE_TAG)
                    cut = len(self._held) - keep
                    self._emit(parts, self._held[:cut], reasoning=True)
                    self._held = self._held[cut:]
                    return parts
                self._emit(
                    parts, self._held[:close], reasoning=True, closed=True, opened=self._opened
                )
                self._opened = False
                self._held = self._held[close + len(CLOSE_TAG) :]
                self._mode = _Mode.ANSWER
            else:
                self._emit(parts, self._held, reasoning=False)
                self._held = ""
                return parts

    def release_undecided(self, *, as_reasoning: bool = False) -> list[TextPart]:
        """Give up waiting for a tag: undecided text becomes answer (e.g. a tool call began), or
        reasoning when `as_reasoning` (the answer was cut mid-thought, or a tag was lost)."""
        if not self.undecided:
            return []
        if as_reasoning:
            parts: list[TextPart] = []
            self._emit(parts, self._take_undecided(self._held), reasoning=True, closed=True)
            self._held = ""
            self._mode = _Mode.ANSWER
            return parts
        self._held = self._take_undecided(self._held)
        self._mode = _Mode.ANSWER
        return self.feed("")

    def finish(self) -> list[TextPart]:
        """End of text: whatever is held is final (an unclosed think span stays reasoning)."""
        parts: list[TextPart] = []
        if self._mode is _Mode.THINK:
            # An unterminated span still ends here; mark it so a summary can be placed.
            self._emit(parts, self._held, reasoning=True, closed=True, opened=self._opened)
            self._opened = False
        elif self._mode is _Mode.UNDECIDED and self._unclosed_is_reasoning:
            # The prompt opened the span and no tag came: the text was all thought.
            self._emit(parts, self._take_undecided(self._held), reasoning=True, closed=True)
        else:
            self._emit(parts, self._take_undecided(self._held), reasoning=False)
        self._held = ""
        self._mode = _Mode.ANSWER
        return parts

    def _take_undecided(self, tail: str) -> str:
        """The parked undecided text followed by `tail`; the parking is emptied."""
        if not self._parked:
            return tail
        text = "".join(self._parked) + tail
        self._parked.clear()
        self._parked_chars = 0
        return text

    def _enter_think(self, open_at: int) -> None:
        self._held = self._held[open_at + len(OPEN_TAG) :]
        self._mode = _Mode.THINK
        self._opened = True

    @staticmethod
    def _emit(
        parts: list[TextPart],
        text: str,
        *,
        reasoning: bool,
        closed: bool = False,
        opened: bool = False,
    ) -> None:
        if text or closed:
            parts.append(TextPart(text, reasoning=reasoning, closed=closed, opened=opened))


class ThinkTextFilter:
    """Applies a reasoning policy to answer text with inline think tags, incrementally.

    Strip drops reasoning spans and their tags. Summarise drops them too and, where each span
    ends, puts `summary</think>` (with `<think>` before it when the output had opened the span),
    so clients that split on the tags find the summary where they expect the reasoning.
    """

    def __init__(
        self,
        *,
        summarise: Callable[[str], Awaitable[str]] | None,
        think_open: bool = False,
        unclosed_is_reasoning: bool = False,
        max_reasoning: int = _DEFAULT_MAX_UNDECIDED,
    ) -> None:
        self._splitter = ThinkSplitter(
            think_open=think_open,
            unclosed_is_reasoning=unclosed_is_reasoning,
            max_undecided=max_reasoning,
        )
        self._summarise = summarise
        self._reasoning: list[str] = []
        self._max_reasoning = max_reasoning
        self._room = max_reasoning
        """Characters of the current span still kept for its summary (the rest is dropped)."""
        self.changed = False
        """Whether any text was removed or replaced so far."""

    @property
    def undecided(self) -> bool:
        """Whether text is held back waiting for the first tag."""
        return self._splitter.undecided

    async def feed(self, text: str) -> str:
        """The answer text that can be handed out now."""
        return await self._apply(self._splitter.feed(text))

    async def release_undecided(self, *, as_reasoning: bool = False) -> str:
        """Release text held while waiting for a first tag, as answer (or as reasoning)."""
        return await self._apply(self._splitter.release_undecided(as_reasoning=as_reasoning))

    async def finish(self) -> str:
        """All remaining text, at the end of the answer."""
        return await self._apply(self._splitter.finish())

    async def _apply(self, parts: list[TextPart]) -> str:
        out: list[str] = []
        for part in parts:
            if not part.reasoning:
                out.append(part.text)
                continue
            self.changed = True
            if self._summarise is None:
                continue
            if self._room > 0:
                kept = part.text[: self._room]
                self._reasoning.append(kept)
                self._room -= len(kept)
            if part.closed:
                trace = "".join(self._reasoning).strip()
                self._reasoning.clear()
                self._room = self._max_reasoning
                summary = await self._summarise(trace) if trace else ""
                opening = f"{OPEN_TAG}\n" if part.opened else ""
                out.append(f"{opening}{summary}\n{CLOSE_TAG}" if summary else "")
        return "".join(out)
