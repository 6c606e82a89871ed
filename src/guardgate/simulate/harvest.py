"""What answering a request would hand its sender: answer and reasoning tokens, as labels.

The simulator does not run a model, so each request's label carries the answer and reasoning
tokens an upstream would plausibly return for it, drawn from the request's own limits: the output
cap (`max_tokens`, `max_completion_tokens`, `max_output_tokens`), the thinking budget or reasoning
effort, the model (reasoning models think before answering) and `n`. The benchmark's harvest
table adds them up per campaign for the requests answered without hardening.
"""

from __future__ import annotations

import random

from guardgate.simulate.bodies import REASONING_MODELS

_EFFORT = {"minimal": 250, "low": 700, "medium": 1800, "high": 4200}


def _cap(body: dict[str, object]) -> int | None:
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def expected_tokens(rng: random.Random, body: dict[str, object]) -> tuple[int, int]:
    """(answer tokens, reasoning tokens) an upstream would return for `body`."""
    cap = _cap(body)
    model = str(body.get("model", ""))
    thinking = body.get("thinking")
    budget = 0
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        raw = thinking.get("budget_tokens", 0)
        budget = raw if isinstance(raw, int) else 0
    effort_value = body.get("reasoning_effort")
    reasoning_field = body.get("reasoning")
    if isinstance(reasoning_field, dict):
        effort_value = reasoning_field.get("effort", effort_value)
    effort = effort_value if isinstance(effort_value, str) else "medium"
    # Longer caps are asked for by those who want longer answers.
    median_answer = 250 + 0.12 * (cap if cap is not None else 2000)
    answer = int(median_answer * rng.lognormvariate(0.0, 0.6))
    reasoning = 0
    if budget:
        reasoning = int(budget * rng.uniform(0.35, 1.0))
    elif model in REASONING_MODELS:
        reasoning = int(_EFFORT.get(effort, 1800) * rng.lognormvariate(0.0, 0.5))
    if cap is not None:
        if budget or ("max_tokens" not in body and model in REASONING_MODELS):
            # Anthropic's budget sits inside max_tokens; o-series count reasoning in the cap.
            reasoning = min(reasoning, max(0, cap - 64))
            answer = min(answer, max(16, cap - reasoning))
        else:
            answer = min(answer, cap)
    n = body.get("n", 1)
    copies = n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
    return answer * copies, reasoning * copies
