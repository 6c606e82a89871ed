"""Template sketches, reasoning elicitation and capability areas."""

from __future__ import annotations

import subprocess
import sys

from guardgate.signals.content import (
    TemplateSketcher,
    band_values,
    capability,
    elicits_reasoning,
    normalise,
    similarity,
)

TEMPLATE = (
    "You are helping build a training set. Solve the following {area} problem completely. "
    "Write out every step of your reasoning in full before the final answer, and do not skip "
    "any intermediate result. Problem: {problem} Format the final answer on its own line."
)
FILLS = [
    ("algebra", "If 3x + 7 = 22, what is x squared minus 4?"),
    ("geometry", "A circle has radius 4.5 cm; find the area of the inscribed square."),
    ("probability", "Two dice are rolled 12 times; what is the chance of at least one double six?"),
    ("number theory", "Find the smallest prime p such that p^2 + 2 is also prime."),
]
UNRELATED = [
    "hey, can you help me write a short cover letter for a barista job at a small cafe?",
    "What are some good vegetarian dinner ideas for a family with two picky kids this week?",
    "Summarise the plot of a classic detective novel in three sentences for my book club.",
]


def test_masking_keeps_the_template_wording_and_drops_the_fill() -> None:
    text = (
        'Ask Maria about "the quarterly report" at https://example.com/x?id=7 '
        "before 14:30, and run `make test` first.\n```python\nprint(42)\n```"
    )
    masked = normalise(text)
    for gone in ("maria", "quarterly", "example.com", "14", "make test", "print"):
        assert gone not in masked
    for kept in ("ask", "about", "before", "and run", "first"):
        assert kept in masked


def test_fills_of_one_template_are_near_and_unrelated_prompts_are_not() -> None:
    sketcher = TemplateSketcher()
    fills = [sketcher.sketch(TEMPLATE.format(area=a, problem=p))[0] for a, p in FILLS]
    others = [sketcher.sketch(text)[0] for text in UNRELATED]
    near = [similarity(a, b) for i, a in enumerate(fills) for b in fills[i + 1 :]]
    far = [similarity(a, b) for a in fills for b in others]
    assert min(near) >= 0.3
    assert max(far) <= 0.1
    # One template's fills share sketch values (the first 8 are what linking posts), so they
    # meet in the same postings; unrelated prompts do not.
    for i, a in enumerate(fills):
        for b in fills[i + 1 :]:
            assert len(set(band_values(a[:8], rows=1)) & set(band_values(b[:8], rows=1))) >= 3
        for c in others:
            assert not set(band_values(a[:8], rows=1)) & set(band_values(c[:8], rows=1))


def test_exact_hash_ignores_numbers_and_names_and_short_prompts_get_no_sketch() -> None:
    sketcher = TemplateSketcher()
    a = sketcher.sketch("Please translate the invoice for Alice dated 2024-03-01 into French now.")
    b = sketcher.sketch("Please translate the invoice for Bob dated 2025-11-30 into French now.")
    assert a == b and a[1]
    sketch, digest = sketcher.sketch("hi there!")
    assert sketch == () and digest
    assert sketcher.sketch("   ") == ((), "")


def test_sketches_are_the_same_in_every_process() -> None:
    """Replicas share postings in Redis: the sketch must not depend on hash randomisation."""
    prompt = TEMPLATE.format(area="algebra", problem="Solve 2x = 9 for x.")
    code = (
        "from guardgate.signals.content import TemplateSketcher;"
        f"print(TemplateSketcher().sketch({prompt!r}))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {repr(TemplateSketcher().sketch(prompt)) + "\n"}


def test_reasoning_elicitation_and_capability() -> None:
    assert elicits_reasoning("solve this. think step by step and show your work.")
    assert elicits_reasoning("please explain your reasoning before answering")
    assert not elicits_reasoning("what is the capital of france?")
    assert capability("fix the bug in this python function", has_tools=False) == "coding"
    assert capability("grade this essay with the rubric below", has_tools=False) == "grading"
    assert capability("prove that the sum of two odd numbers is even", False) == "reasoning"
    assert capability("tell me a joke", has_tools=False) == "chat"
    assert capability("tell me a joke", has_tools=True) == "tools"
