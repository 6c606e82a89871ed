"""Prompts of distillation campaigns, modelled on published 2026 reports.

Farms send one template tens of thousands of times with slots filled (numbers, names, code),
aim at the most valuable capabilities (reasoning, agentic coding, tool use, data analysis,
rubric grading), and ask the model to write out its reasoning so that the answer becomes
chain-of-thought training data. Stealthier farms paraphrase the template and mix in filler.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from guardgate.simulate.snippets import LANG_TAGS, code_snippet, identifier, math_problem
from guardgate.simulate.text import VOCAB

HYDRA_SYSTEM = (
    "You are an expert analyst and software engineer who combines rigour with deep domain "
    "knowledge. Your goal is to deliver complete, verifiable solutions grounded in the given "
    "material, supported by complete and transparent reasoning."
)

_HYDRA_TEMPLATE = (
    "{intro}\n\n{payload}\n\nWork through this step by step. Write out your complete reasoning, "
    "every assumption, every intermediate result and how you checked it, before the final "
    "answer. Then give the final answer under the heading 'Final answer'."
)
_INTROS = {
    "math": "Solve the following problem.",
    "code": "You are working inside a code repository. Complete the engineering task below.",
    "data": "Analyse the following data and answer the question.",
    "tools": "Plan how to answer the request below using the available tools.",
}

STEALTH_VARIANTS = (
    "Could you solve this and show all of your thinking along the way? I want to see each "
    "step, not just the result.\n\n{payload}",
    "{payload}\n\nPlease reason carefully and write down each step of your reasoning in full "
    "before you answer.",
    "I'm studying how experts approach problems like this one. {payload} Talk me through your "
    "thought process in detail, then state your answer.",
    "Task:\n{payload}\n\nExplain your approach thoroughly, with all intermediate steps, then "
    "give the final result.",
    "Here's something I'm working on: {payload}\nWalk through the full reasoning, including "
    "anything you would double-check.",
)

HOPPER_TEMPLATE = (
    "Complete the task below. Think out loud in full detail: explain what you consider, what "
    "you rule out and why, before the final answer.\n\n{payload}"
)

_METRICS = ("revenue", "churn", "signups", "latency p95", "conversion", "refunds", "DAU")


def payload(rng: random.Random, area: str | None = None) -> str:
    """The slot-filled core of a farm prompt: a problem in one of the targeted areas."""
    area = area or rng.choice(("math", "code", "code", "data", "tools"))
    if area == "math":
        return math_problem(rng)[0]
    if area == "code":
        lang = rng.choice(("Python", "Go", "TypeScript"))
        snippet = code_snippet(rng, lang)
        task = rng.choice(VOCAB["task"])
        return (
            f"The function below is part of a service that needs to {task}. It has a bug "
            f"reported as {rng.choice(VOCAB['error'])}. Find the cause, fix it, and add tests."
            f"\n\n```{LANG_TAGS[lang]}\n{snippet}\n```"
        )
    if area == "data":
        metric = rng.choice(_METRICS)
        values = ", ".join(f"{m}: {rng.randint(100, 9999)}" for m in rng.sample(VOCAB["month"], 5))
        return (
            f"Monthly {metric} for a {rng.choice(VOCAB['role'])}'s team: {values}. "
            f"Identify the trend, any anomaly, and forecast the next value with a justification."
        )
    return (
        f"Available tools: search(query), fetch(url), python(code), {identifier(rng)}(id). "
        f"Request: find out how to {rng.choice(VOCAB['task'])} using {rng.choice(VOCAB['lib'])}"
        f" and estimate the effort for a team of {rng.randint(2, 9)}."
    )


def hydra_prompt(rng: random.Random) -> str:
    """The hydra farm's one template with its slots filled."""
    area = rng.choice(("math", "code", "code", "data", "tools"))
    return _HYDRA_TEMPLATE.format(intro=_INTROS[area], payload=payload(rng, area))


def stealth_prompt(rng: random.Random, variants: tuple[int, ...]) -> str:
    """A paraphrased extraction prompt, in one of the account's preferred phrasings."""
    return STEALTH_VARIANTS[rng.choice(variants)].format(payload=payload(rng))


_RUBRIC = (
    "States the key idea correctly",
    "Shows every intermediate step",
    "Justifies each step",
    "Checks the result",
    "Handles edge cases",
    "Final answer is correct and clearly stated",
)


def harvester_prompt(rng: random.Random) -> str:
    """A chain-of-thought reconstruction or rubric-grading prompt."""
    problem, answer = math_problem(rng)
    kind = rng.randrange(3)
    if kind == 0:
        return (
            "Below is a question and its correct final answer. Reconstruct the full "
            "step-by-step reasoning behind this answer, as if you were solving it yourself for "
            f"the first time. Do not skip steps.\n\nQuestion: {problem}\nFinal answer: {answer}"
        )
    if kind == 1:
        items = rng.sample(_RUBRIC, 4)
        rubric = "\n".join(f"{i + 1}. {r}" for i, r in enumerate(items))
        wrong = str(int(answer) + rng.choice((-2, -1, 1, 3)))
        solution = (
            f"First I add the amounts, then subtract. The answer is {rng.choice((answer, wrong))}."
        )
        return (
            "Grade this solution against the rubric and explain each point. For each rubric "
            "item, quote the relevant part of the solution, explain whether it meets the "
            f"criterion and why, and give a score from 0 to 2.\n\nRubric:\n{rubric}\n\n"
            f"Problem: {problem}\n\nSolution: {solution}"
        )
    code = code_snippet(rng, "Python", 6)
    return (
        "Imagine you wrote the following response. Articulate, step by step, the internal "
        "reasoning that produced it.\n\nPrompt: Write a function that does this.\n"
        f"Response:\n```python\n{code}\n```"
    )


_SYSTEM_ROLES = (
    "You are an expert analyst and software engineer",
    "You are a world-class problem solver",
    "You are a senior researcher and engineer",
    "You are a meticulous domain expert",
    "You are a helpful, rigorous assistant",
)
_SYSTEM_GOALS = (
    "who combines rigour with deep domain knowledge.",
    "who never skips a step.",
    "who writes complete, verifiable solutions.",
    "who explains every decision.",
)
_SYSTEM_STYLES = (
    "Your goal is to deliver complete, verifiable solutions grounded in the given material.",
    "Always support the answer with transparent reasoning.",
    "Be exhaustive and precise.",
    "Structure the answer clearly.",
)
_LEADS = (
    "Solve the following.",
    "Complete the task below.",
    "Here is the task.",
    "Work on this:",
    "Task:",
    "Please handle the following request.",
)
ELICIT_ASKS = (
    "Work through this step by step. Write out your complete reasoning, every assumption, every "
    "intermediate result and how you checked it, before the final answer.",
    "Think it through carefully and show all of your reasoning before answering.",
    "Explain your reasoning in full, including what you considered and ruled out.",
    "Walk through your thought process in detail, then state the result.",
    "Reason step by step and do not skip intermediate steps.",
    "Show your work: every step, every check.",
    "Think out loud in full detail before the final answer.",
    "Write out the reasoning behind each step of your solution.",
)
_ENDINGS = (
    "Then give the final answer under the heading 'Final answer'.",
    "End with 'Answer:' followed by the result.",
    "Finish with a one-line summary.",
    "",
    "Put the final result last.",
)


@dataclass(frozen=True)
class Wording:
    """One campaign's texts for this seed: system prompt, template, paraphrases."""

    system: str
    template: str
    """Contains `{payload}`."""
    paraphrases: tuple[str, ...]
    """Other phrasings with `{payload}`, for accounts that vary their wording."""


def _compose(rng: random.Random) -> str:
    lead = rng.choice(_LEADS)
    ask = rng.choice(ELICIT_ASKS)
    ending = rng.choice(_ENDINGS)
    if rng.random() < 0.5:
        return f"{lead}\n\n{{payload}}\n\n{ask} {ending}".strip()
    return f"{ask}\n\n{{payload}}\n\n{ending}".strip()


def farm_wording(rng: random.Random) -> Wording:
    """A campaign's texts, drawn for this seed from fragment pools."""
    system = (
        f"{rng.choice(_SYSTEM_ROLES)} {rng.choice(_SYSTEM_GOALS)} "
        f"{' '.join(rng.sample(_SYSTEM_STYLES, 2))}"
    )
    pool = [*STEALTH_VARIANTS, *(_compose(rng) for _ in range(6))]
    rng.shuffle(pool)
    return Wording(system, _compose(rng), tuple(pool[:5]))


def farm_prompt(rng: random.Random, wording: Wording, *, paraphrase: bool = False) -> str:
    """A campaign's prompt with a fresh payload, in its template or one of its paraphrases."""
    template = rng.choice(wording.paraphrases) if paraphrase else wording.template
    return template.format(payload=payload(rng))
