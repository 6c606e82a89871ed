"""A client of the sidecar: the plain OpenAI SDK, pointed at guardgate instead of the server.

OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_API_KEY=sk-... python examples/sidecar/client.py
"""

from __future__ import annotations

import os

from openai import OpenAI


def main() -> None:
    """Ask one question, streamed, and print what arrives (reasoning first, when passed)."""
    model = os.environ.get("MODEL", "mock-reasoning-content")
    with OpenAI() as client:
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "What is 17 * 23? Think it through."}],
            stream=True,
        )
        reasoning, answer = [], []
        for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            extra = getattr(delta, "reasoning_content", None)
            if extra:
                reasoning.append(extra)
            if delta.content:
                answer.append(delta.content)
    print("reasoning:", "".join(reasoning) or "(none)")
    print("answer:", "".join(answer))


if __name__ == "__main__":
    main()
