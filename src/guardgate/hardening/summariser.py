"""Summarisers: turn a reasoning trace into a short summary that does not reproduce it.

The default `LocalSummariser` needs no network and no model: it picks key phrases from the
trace (what was considered first, what was checked, what was concluded), normalises them and
rebuilds them into one short "Summary: considered ...; checked ...; concluded ..." line. It never
copies a whole sentence of the trace, so the step-by-step derivation is not handed out.

`LLMSummariser` asks an OpenAI-compatible chat endpoint and falls back to the local summariser on
any error or timeout, so a summariser outage never breaks a response.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

import httpx

from guardgate.settings import GuardgateSettings

__all__ = ["LLMSummariser", "LocalSummariser", "Summariser", "summariser_from_settings"]

logger = logging.getLogger("guardgate.hardening")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[\u3002\uff01\uff1f])|\n+")
_WORD = re.compile(r"[^\W\d_][\w'-]*|\d+(?:\.\d+)?")
_CHECK_CUES = ("check", "verify", "verif", "test", "confirm", "compare", "compute", "calculat")
_CONCLUDE_CUES = ("so ", "therefore", "thus", "hence", "answer", "conclu", "final", "result")
_STOPWORDS = frozenset(
    """a an the and or but if then so of to in on at for by with from as is are was were be been
    being it its this that these those i we you he she they me us my our your their them do does
    did done have has had will would should could can may might must shall not no yes just also
    let lets let's me okay ok well now first next then maybe actually really wait hmm need want
    think thinking know see look looks like get got go going make so therefore thus hence
    which what who whom whose when where why how there here into out up down over about than
    very more most some any all each both either neither one two""".split()  # noqa: SIM905
)
_MAX_PHRASE_WORDS = 5
_SUMMARY_CHARS = 240


class Summariser(Protocol):
    """Anything that turns a reasoning trace into a short summary."""

    async def summarise(self, reasoning: str) -> str:
        """A short summary of `reasoning`; must not reproduce its sentences."""
        ...


class LocalSummariser:
    """Extractive-then-rewritten summary from key phrases; local, deterministic and cheap."""

    def __init__(self, max_chars: int = _SUMMARY_CHARS) -> None:
        self._max_chars = max_chars

    async def summarise(self, reasoning: str) -> str:
        """A one-line summary built from key phrases of the first, checking and final steps."""
        return self.summarise_text(reasoning)

    def summarise_text(self, reasoning: str) -> str:
        """The synchronous core of `summarise` (no I/O)."""
        sentences = [s.strip() for s in _SENTENCE_END.split(reasoning) if s.strip()]
        if not sentences:
            return ""
        first = sentences[0]
        checks = [s for s in sentences[1:-1] if _has_cue(s, _CHECK_CUES)]
        concluding = [s for s in sentences[1:] if _has_cue(s, _CONCLUDE_CUES)]
        last = concluding[-1] if concluding else sentences[-1]
        # Never longer than the trace itself (tiny traces get a generic note instead).
        limit = min(self._max_chars, max(len(reasoning) * 2 // 3, 24))
        summary = ""
        for words in (_MAX_PHRASE_WORDS, 3, 2):
            parts = [f"considered {_key_phrase(first, words=words)}"]
            if checks:
                parts.append(f"checked {_key_phrase(checks[0], _CHECK_CUES, words=words)}")
            if len(sentences) > 1:
                # A conclusion's result is usually at its end.
                phrase = _key_phrase(last, ("conclu",), words=words, from_end=True)
                parts.append(f"concluded {phrase}")
            kept = [p for p in parts if not p.endswith(" ")]
            if not kept:
                return "Summary: brief reasoning before the answer."
            summary = "Summary: " + "; ".join(kept) + "."
            if len(summary) <= limit:
                return summary
        if limit < 48:
            # Too short to summarise usefully; an empty summary still hides the trace.
            return "Summary: brief." if len(reasoning) > len("Summary: brief.") + 4 else ""
        summary = summary[: limit - 1].rstrip(" ;,") + "…"
        return summary


def _has_cue(sentence: str, cues: tuple[str, ...]) -> bool:
    lowered = sentence.lower()
    return any(cue in lowered for cue in cues)


def _key_phrase(
    sentence: str,
    cues_to_skip: tuple[str, ...] = (),
    *,
    words: int = _MAX_PHRASE_WORDS,
    from_end: bool = False,
) -> str:
    """Up to a few content words of a sentence, lower-cased and joined without their
    connecting words, so the result is a gist rather than a quotation."""
    tokens = [w.lower() for w in _WORD.findall(sentence)]
    content = [
        w
        for w in tokens
        if w not in _STOPWORDS and (len(w) > 1 or w.isdigit()) and not _has_cue(w, cues_to_skip)
    ]
    seen: list[str] = []
    for word in reversed(content) if from_end else content:
        if word not in seen:
            seen.append(word)
        if len(seen) == words:
            break
    if from_end:
        seen.reverse()
    if seen == tokens:
        # The phrase would be the whole sentence: keep it a gist, not a quotation.
        seen = seen[:-1] if len(seen) > 1 else [w[: len(w) // 2] for w in seen]
    return " ".join(seen)


class LLMSummariser:
    """Summarises through an OpenAI-compatible `/chat/completions` endpoint, with a timeout;
    any failure falls back to `fallback` (the local summariser by default)."""

    _INSTRUCTION = (
        "Summarise the following reasoning in at most two short sentences. State only what was "
        "considered and what was concluded. Do not quote it, do not list steps, do not show work."
    )

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 10.0,
        fallback: Summariser | None = None,
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._fallback: Summariser = fallback or LocalSummariser()

    async def summarise(self, reasoning: str) -> str:
        """The endpoint's summary, or the fallback's on any error, timeout or empty answer."""
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": self._INSTRUCTION},
                {"role": "user", "content": reasoning},
            ],
            "max_tokens": 120,
            "temperature": 0,
            "stream": False,
        }
        try:
            response = await self._client.post(
                self._url, json=body, headers=self._headers, timeout=self._timeout
            )
            response.raise_for_status()
            text = response.json()["choices"][0]["message"]["content"]
            if not isinstance(text, str) or not text.strip():
                raise ValueError("empty summary")
            summary = text.strip()
            if len(summary) >= len(reasoning):
                raise ValueError("summary is not shorter than the reasoning")
            return summary
        except Exception as exc:  # any failure of a remote helper must not break the answer
            logger.warning("LLM summariser failed (%s); using the local summariser", exc)
            return await self._fallback.summarise(reasoning)


def summariser_from_settings(
    settings: GuardgateSettings, client: httpx.AsyncClient | None = None
) -> Summariser:
    """The LLM summariser when `summariser_url` and `summariser_model` are set and an HTTP client
    is given (it should be the app's pooled client, opened in lifespan), else the local one."""
    if settings.summariser_url and settings.summariser_model and client is not None:
        key = settings.summariser_api_key
        return LLMSummariser(
            client,
            base_url=settings.summariser_url,
            model=settings.summariser_model,
            api_key=key.get_secret_value() if key is not None else None,
            timeout=settings.summariser_timeout,
        )
    if settings.summariser_url and client is None:
        logger.warning("summariser_url is set but no HTTP client was given; using local summary")
    return LocalSummariser()
