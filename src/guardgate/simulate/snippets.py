"""Small generated artefacts: code snippets, maths word problems, tool outputs."""

from __future__ import annotations

import random

_NOUNS = (
    "order", "invoice", "user", "session", "payment", "ticket", "event", "report", "item",
    "account", "shipment", "record", "batch", "token", "job", "metric", "node", "edge",
)  # fmt: skip
_VERBS = (
    "parse", "load", "merge", "validate", "normalize", "group", "filter", "score", "sync",
    "resolve", "compute", "flatten", "dedupe", "encode", "schedule", "retry", "split",
)  # fmt: skip
_PEOPLE = (
    "Maya", "Tom", "Priya", "Luis", "Aiko", "Omar", "Sofia", "Jonas", "Chen", "Fatima",
    "Liam", "Zara", "Diego", "Elena", "Kwame", "Ines", "Ravi", "Noor", "Hugo", "Mei",
)  # fmt: skip
_ITEMS = (
    "apples", "notebooks", "tickets", "marbles", "cupcakes", "boxes", "stamps", "pencils",
    "bottles", "tiles", "books", "seeds",
)  # fmt: skip
LANG_TAGS = {"Python": "python", "TypeScript": "ts", "Go": "go"}


def identifier(rng: random.Random) -> str:
    """A function name such as `merge_invoice_batch`."""
    return f"{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}{rng.choice(('', 's', '_batch', '_map'))}"


def code_snippet(rng: random.Random, lang: str = "Python", lines: int = 8) -> str:
    """A short, plausible function in `lang` with randomised names and constants."""
    name = identifier(rng)
    noun = rng.choice(_NOUNS)
    limit = rng.randint(2, 500)
    if lang == "Python":
        body = [
            f"def {name}({noun}s, limit={limit}):",
            f'    """{name.replace("_", " ").capitalize()} for the given {noun}s."""',
            "    out = []",
            f"    for i, {noun} in enumerate({noun}s):",
            f"        if i >= limit or {noun} is None:",
            "            break",
            f"        out.append({noun}.get('{rng.choice(_NOUNS)}_id'))",
            f"    return sorted(out)[:{rng.randint(1, 64)}]",
        ]
    elif lang == "Go":
        camel = "".join(p.capitalize() for p in name.split("_"))
        body = [
            f"func {camel}({noun}s []{noun.capitalize()}, limit int) []string {{",
            "\tout := make([]string, 0, limit)",
            f"\tfor i, x := range {noun}s {{",
            '\t\tif i >= limit || x.ID == "" {',
            "\t\t\tbreak",
            "\t\t}",
            "\t\tout = append(out, x.ID)",
            "\t}",
            f"\treturn out[:min(len(out), {rng.randint(1, 64)})]",
            "}",
        ]
    else:
        camel = name.split("_")[0] + "".join(p.capitalize() for p in name.split("_")[1:])
        body = [
            f"export function {camel}({noun}s: Array<{{ id?: string }}>, limit = {limit}) {{",
            "  const out: string[] = [];",
            f"  for (const [i, x] of {noun}s.entries()) {{",
            "    if (i >= limit || !x.id) break;",
            "    out.push(x.id);",
            "  }",
            f"  return out.sort().slice(0, {rng.randint(1, 64)});",
            "}",
        ]
    return "\n".join(body[: max(lines, 3)])


def math_problem(rng: random.Random) -> tuple[str, str]:
    """A grade-school word problem and its answer."""
    a, b = rng.sample(_PEOPLE, 2)
    item = rng.choice(_ITEMS)
    x, y, z = rng.randint(3, 90), rng.randint(2, 12), rng.randint(1, 40)
    kind = rng.randrange(4)
    if kind == 0:
        text = (
            f"{a} has {x} {item}. {b} gives {a} {y} times as many {item} as {a} already has, "
            f"then {a} sells {z} of them. How many {item} does {a} have now?"
        )
        answer = x + x * y - z
    elif kind == 1:
        text = (
            f"A shop sells {item} at ${y} each. {a} buys {x} and pays with ${x * y + z}. "
            f"How much change does {a} get?"
        )
        answer = z
    elif kind == 2:
        text = (
            f"{a} reads {y} pages a day for {x % 20 + 3} days, then {z} pages on the last day. "
            f"How many pages did {a} read?"
        )
        answer = y * (x % 20 + 3) + z
    else:
        text = (
            f"A tank holds {x * 10} litres and leaks {y} litres per hour while {b} adds {z} "
            f"litres every {y + 1} hours. After {y + 1} hours, how many litres are in the tank?"
        )
        answer = x * 10 - y * (y + 1) + z
    return text, str(answer)


def tool_output(rng: random.Random, lang: str = "Python") -> str:
    """What a coding agent's tool call returns: file contents, a test run or a listing."""
    kind = rng.randrange(4)
    if kind == 0:
        return code_snippet(rng, lang, rng.randint(4, 10))
    if kind == 1:
        passed, failed = rng.randint(5, 300), rng.randint(0, 4)
        name = identifier(rng)
        lines = [f"collected {passed + failed} items", ""]
        if failed:
            lines += [f"FAILED tests/test_{name}.py::test_{name}_edge - AssertionError"]
        lines.append(f"{failed} failed, {passed} passed in {rng.uniform(0.4, 40):.2f}s")
        return "\n".join(lines)
    if kind == 2:
        return "\n".join(f"src/{identifier(rng)}.py" for _ in range(rng.randint(3, 9)))
    return f"Applied edit to src/{identifier(rng)}.py ({rng.randint(1, 40)} lines changed)"
