"""What a prompt asks, reduced to features that never hold its text.

`TemplateSketch` masks what varies between fills of one template (numbers, names, code, quoted
strings, URLs) and keeps what stays: the template's own wording. Two prompts cut from one template
get equal or near sketches whoever sends them, so accounts of one farm can be compared by content
without storing content. The sketch is a one-permutation MinHash over word bigrams of the masked
text, cut to a head and a tail so that its cost stays flat however long the prompt is.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from functools import lru_cache

from guardgate.records import record

_FENCED = re.compile(r"```.*?(?:```|$)|~~~.*?(?:~~~|$)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]{1,200}`")
_DOUBLE_QUOTED = re.compile(r"\"[^\"\n]{1,200}\"|“[^”\n]{1,200}”")
_SINGLE_QUOTED = re.compile(r"(?<!\w)'[^'\n]{1,200}'(?!\w)")
_URL = re.compile(r"(?:https?://|www\.)\S+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_NUMBER = re.compile(r"\d[\d.,_]*(?:[eE][-+]?\d+)?[a-zA-Z%]*")
# A capitalised word right after a lower-case word is most likely a name (person, product, place).
_NAME = re.compile(r"([a-z,;]) [A-Z][\w'-]+")

_REASONING = re.compile(
    r"step[- ]by[- ]step|show (?:all )?(?:of )?your (?:work|reasoning|steps|thinking)"
    r"|(?:explain|describe|write out|walk (?:me )?through) (?:all )?(?:of )?your"
    r" (?:reasoning|thought)"
    r"|chain[- ]of[- ]thought|think (?:carefully|it through|through|aloud|out loud)"
    r"|reasoning (?:process|trace|steps)|before (?:giving|answering) .{0,40}(?:reason|think)"
    r"|<think>|internal monologue|let'?s think",
)
# Substring tests (C speed) instead of regexes: the capability area is coarse by design.
_CODING = (
    "```",
    "def ",
    "class ",
    "function",
    "import ",
    "#include",
    "python",
    "javascript",
    "typescript",
    "sql",
    "rust",
    "code",
    "bug",
    "refactor",
    "unit test",
    "compile",
)
_GRADING = (
    "rubric",
    "grade",
    "score the",
    "score this",
    "score each",
    "evaluate the response",
    "evaluate the answer",
    "rate the",
    "rate this",
    "rate each",
    "judge",
    "response is better",
    "answer is better",
)
_MATH = (
    "prove",
    "solve",
    "theorem",
    "equation",
    "integral",
    "probability",
    "compute",
    "calculate",
    "logic puzzle",
    "derive",
)
# Words without which `_REASONING` cannot match: most prompts skip the regex.
_REASONING_HINTS = (
    "step",
    "your",
    "chain",
    "think",
    "reasoning",
    "<think>",
    "monologue",
    "before",
)

SKETCH_SIZE = 12
"""MinHash values per sketch; `band_values` groups them in pairs."""
_HEAD_CHARS = 700
_TAIL_CHARS = 200
MIN_TOKENS = 8
"""Prompts with fewer words after masking get no sketch."""
_HEAD_TOKENS = 72
_TAIL_TOKENS = 24
_MASK64 = (1 << 64) - 1
_EMPTY = _MASK64


@record
class ContentFeatures:
    """The content features of one prompt."""

    template_sketch: tuple[int, ...]
    template_hash: str
    elicits_reasoning: bool
    capability: str


def clip(text: str) -> str:
    """The head and tail of `text`: the parts of a prompt where a template's wording sits."""
    if len(text) <= _HEAD_CHARS + _TAIL_CHARS:
        return text
    return text[:_HEAD_CHARS] + "\n" + text[-_TAIL_CHARS:]


def normalise(text: str) -> str:
    """Mask what varies between fills of a template; lower-case what is left.

    Each pattern runs only when its trigger character is present: most prompts have no code,
    links or quotes, and a regex scan of the whole text costs more than a substring test.
    """
    if "```" in text or "~~~" in text:
        text = _FENCED.sub(" § ", text)
    if "`" in text:
        text = _INLINE_CODE.sub(" § ", text)
    if "://" in text or "www." in text:
        text = _URL.sub(" ¤ ", text)
    if "@" in text:
        text = _EMAIL.sub(" ¤ ", text)
    if '"' in text or "“" in text:
        text = _DOUBLE_QUOTED.sub(" ¶ ", text)
    if "'" in text:
        text = _SINGLE_QUOTED.sub(" ¶ ", text)
    text = _NAME.sub(r"\1 £ ", text)
    text = _NUMBER.sub(" µ ", text)
    return text.lower()


class TemplateSketcher:
    """Computes template sketches; holds a bounded cache of token hashes (tokens repeat a lot)."""

    def __init__(self, cache_size: int = 50_000) -> None:
        self._token_hash: dict[str, int] = {}
        self._cache_size = cache_size

    def _hash(self, token: str) -> int:
        h = self._token_hash.get(token)
        if h is None:
            # crc32 is stable across processes (unlike hash()), so replicas agree on sketches.
            h = (zlib.crc32(token.encode()) * 0x9E3779B97F4A7C15) & _MASK64
            if len(self._token_hash) >= self._cache_size:
                self._token_hash.clear()
            self._token_hash[token] = h
        return h

    def sketch(self, text: str) -> tuple[tuple[int, ...], str]:
        """`(minhash, template_hash)` of a prompt: `((), "")` when it has no words, no minhash
        when it has fewer than `MIN_TOKENS`."""
        tokens = normalise(clip(text)).split()
        if not tokens:
            return (), ""
        template_hash = hashlib.blake2b(" ".join(tokens).encode(), digest_size=8).hexdigest()
        if len(tokens) < MIN_TOKENS:
            # "hi", "thanks", "explain photosynthesis": short prompts coincide across strangers
            # and carry no template; they get an exact hash but no sketch.
            return (), template_hash
        if len(tokens) > _HEAD_TOKENS + _TAIL_TOKENS:
            tokens = tokens[:_HEAD_TOKENS] + tokens[-_TAIL_TOKENS:]
        sig = [_EMPTY] * SKETCH_SIZE
        cached = self._token_hash.get
        hash_of = self._hash
        prev = 0x2545F4914F6CDD1D
        for token in tokens:
            cur = cached(token) or hash_of(token)
            # Bigram hash from the two token hashes: cheap arithmetic instead of hashing strings.
            h = ((prev * 0xBF58476D1CE4E5B9) ^ cur) & _MASK64
            h ^= h >> 31
            prev = cur
            slot = h % SKETCH_SIZE
            value = h // SKETCH_SIZE
            if value < sig[slot]:
                sig[slot] = value
        _densify(sig)
        return tuple(sig), template_hash


def _densify(sig: list[int]) -> None:
    """Fill empty slots from the next filled one (rotation densification), so that short prompts
    still give comparable sketches."""
    n = len(sig)
    if _EMPTY not in sig or all(v == _EMPTY for v in sig):
        return
    for i in range(n):
        if sig[i] == _EMPTY:
            j = (i + 1) % n
            steps = 1
            while sig[j] == _EMPTY:
                j = (j + 1) % n
                steps += 1
            sig[i] = (sig[j] + steps * 0x9E3779B97F4A7C15) & _MASK64


def band_values(sketch: tuple[int, ...], rows: int = 2) -> list[str]:
    """LSH band keys of a sketch: prompts from one template share some band with high
    probability, unrelated prompts rarely do."""
    return list(_band_values(sketch, rows))


@lru_cache(maxsize=4096)
def _band_values(sketch: tuple[int, ...], rows: int) -> tuple[str, ...]:
    # Remembered: a sketch repeats with its prompt (retries, templates, evaluation runs), and
    # formatting its bands cost more than the rest of reading the request's evidence.
    out = []
    for start in range(0, len(sketch) - rows + 1, rows):
        chunk = sketch[start : start + rows]
        digest = 0
        for value in chunk:
            digest = ((digest * 0x100000001B3) ^ value) & _MASK64
        out.append(f"{start // rows}.{digest & 0xFFFFFFFFFFFF:x}")
    return tuple(out)


def similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Estimated Jaccard similarity of the prompts behind two sketches."""
    if not a or len(a) != len(b):
        return 0.0
    return sum(1 for x, y in zip(a, b, strict=True) if x == y) / len(a)


def elicits_reasoning(text: str) -> bool:
    """Whether the prompt asks the model to write out its reasoning; `text` in lower case
    (lower-casing once and matching case-sensitively is several times faster)."""
    if not any(hint in text for hint in _REASONING_HINTS):
        return False
    return _REASONING.search(text) is not None


def capability(text: str, has_tools: bool) -> str:
    """The coarse capability area a prompt targets: tools, coding, grading, reasoning or chat;
    `text` in lower case."""
    if has_tools:
        return "tools"
    if any(word in text for word in _CODING):
        return "coding"
    if any(word in text for word in _GRADING):
        return "grading"
    if any(word in text for word in _MATH) or elicits_reasoning(text):
        return "reasoning"
    return "chat"
