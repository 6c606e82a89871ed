"""Agentic tool loops in the three wire formats, with contexts that grow step by step."""

from __future__ import annotations

import json
import random
import string

from guardgate.model import ApiKind
from guardgate.simulate.bodies import ToolSpec, random_id, tools_for
from guardgate.simulate.snippets import code_snippet, identifier, tool_output

CODING_TOOLS = (
    ToolSpec("bash", "Run a shell command in the repository.", (("command", "string", "cmd"),)),
    ToolSpec("read_file", "Read a file.", (("path", "string", "Path"), ("offset", "integer", ""))),
    ToolSpec(
        "edit_file",
        "Replace text in a file.",
        (("path", "string", "Path"), ("old", "string", "Old"), ("new", "string", "New")),
    ),
    ToolSpec("grep", "Search the repository.", (("pattern", "string", "Regex"),)),
    ToolSpec("run_tests", "Run the test suite.", (("selector", "string", "Test selector"),)),
)

_B64 = string.ascii_letters + string.digits + "+/"
_THOUGHTS = (
    "The failing test points at {f}; I should read it before editing.",
    "I need to check how {f} handles empty input.",
    "The error suggests the cache key ignores the tenant; let me grep for {f}.",
    "Tests pass locally except one; run just that one next.",
    "Edit {f} to return early, then rerun the tests.",
)


def _blob(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(_B64, k=length))


def _call(rng: random.Random, lang: str) -> tuple[str, dict[str, object]]:
    tool = rng.choice(CODING_TOOLS)
    path = f"src/{identifier(rng)}.{'py' if lang == 'Python' else 'ts'}"
    if tool.name == "bash":
        args: dict[str, object] = {"command": rng.choice(("ls src", "git status", "git diff"))}
    elif tool.name == "grep":
        args = {"pattern": identifier(rng)}
    elif tool.name == "run_tests":
        args = {"selector": f"tests/test_{identifier(rng)}.py"}
    elif tool.name == "edit_file":
        args = {"path": path, "old": "return out", "new": "return out or []"}
    else:
        args = {"path": path}
    return tool.name, args


class AgentLoop:
    """One agent session: each `advance()` adds a tool call and its result to the context.

    The oldest steps are dropped once `keep_steps` is exceeded, as agents compact contexts.
    """

    def __init__(
        self,
        rng: random.Random,
        api: ApiKind,
        model: str,
        system: str,
        task: str,
        *,
        lang: str = "Python",
        thinking_budget: int | None = None,
        keep_steps: int = 10,
        output_lines: int = 1,
        extra: dict[str, object] | None = None,
    ) -> None:
        """Start a session on `task` (the first user message); a file read returns
        `output_lines` functions' worth of code."""
        self._rng = rng
        self.api = api
        self.model = model
        self._system = system
        self._task = task
        self._lang = lang
        self._thinking = thinking_budget
        self._keep = keep_steps
        self._files = max(1, output_lines)
        self._extra = extra or {}
        self._steps: list[list[dict[str, object]]] = []

    def advance(self) -> None:
        """Record the model's next tool call and the tool's output."""
        rng = self._rng
        name, args = _call(rng, self._lang)
        output = tool_output(rng, self._lang)
        if name == "read_file" and self._files > 1:
            output = "\n\n".join(code_snippet(rng, self._lang) for _ in range(self._files))
        thought = rng.choice(_THOUGHTS).format(f=identifier(rng))
        if self.api is ApiKind.ANTHROPIC_MESSAGES:
            call_id = random_id(rng, "toolu_01", 22)
            content: list[dict[str, object]] = []
            if self._thinking:
                content.append(
                    {"type": "thinking", "thinking": thought, "signature": _blob(rng, 120)}
                )
            content.append({"type": "tool_use", "id": call_id, "name": name, "input": args})
            result = {"type": "tool_result", "tool_use_id": call_id, "content": output}
            step: list[dict[str, object]] = [
                {"role": "assistant", "content": content},
                {"role": "user", "content": [result]},
            ]
        elif self.api is ApiKind.OPENAI_RESPONSES:
            call_id = random_id(rng, "call_", 24)
            step = [
                {
                    "type": "reasoning",
                    "id": random_id(rng, "rs_", 32),
                    "summary": [],
                    "encrypted_content": "gAAAAA" + _blob(rng, 120),
                },
                {
                    "type": "function_call",
                    "call_id": call_id,
                    "name": name,
                    "arguments": json.dumps(args),
                },
                {"type": "function_call_output", "call_id": call_id, "output": output},
            ]
        else:
            call_id = random_id(rng, "call_", 24)
            step = [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(args)},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": call_id, "content": output},
            ]
        self._steps.append(step)
        if len(self._steps) > self._keep:
            del self._steps[0]

    def body(self) -> dict[str, object]:
        """The request the agent sends now."""
        history = [item for step in self._steps for item in step]
        tools = tools_for(self.api, CODING_TOOLS)
        if self.api is ApiKind.ANTHROPIC_MESSAGES:
            body: dict[str, object] = {
                "model": self.model,
                "max_tokens": 32000 if self._thinking else 8192,
                "system": [
                    {"type": "text", "text": self._system, "cache_control": {"type": "ephemeral"}}
                ],
                "messages": [{"role": "user", "content": self._task}, *history],
                "tools": tools,
            }
            if self._thinking:
                body["thinking"] = {"type": "enabled", "budget_tokens": self._thinking}
        elif self.api is ApiKind.OPENAI_RESPONSES:
            first = {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": self._task}
            ]}  # fmt: skip
            body = {
                "model": self.model,
                "instructions": self._system,
                "input": [first, *history],
                "tools": tools,
                "tool_choice": "auto",
                "parallel_tool_calls": False,
                "reasoning": {"effort": "medium", "summary": "auto"},
                "store": False,
                "include": ["reasoning.encrypted_content"],
            }
        else:
            body = {
                "model": self.model,
                "messages": [
                    {"role": "system", "content": self._system},
                    {"role": "user", "content": self._task},
                    *history,
                ],
                "tools": tools,
                "tool_choice": "auto",
            }
        body.update(self._extra)
        return body
