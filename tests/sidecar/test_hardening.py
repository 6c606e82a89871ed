"""Reasoning hardening end to end: real SDK clients through a real sidecar in front of the mock.

Issue 3's done-when: under strip every format yields the whole answer and not one byte of the
reasoning (raw bytes checked too); tool loops that need the thinking block or the encrypted
reasoning item back still complete against an upstream that verifies them; under summarise the
trace is replaced by a clearly shorter summary that quotes none of it; under pass the bytes are the
upstream's; sealed blobs that were altered or sealed elsewhere get a 400 in the provider's format;
logprob parameters never reach the upstream under strip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from tests.gateway import normalise, running_mock, running_sidecar

from guardgate.settings import load_settings
from guardgate.sidecar import create_app
from guardgate.testing import (
    ServerThread,
    mock_answer_text,
    mock_reasoning_text,
    mock_summary_text,
)

PROMPT = "What is 17 * 23?"
ANSWER = mock_answer_text(PROMPT)
TRACE = mock_reasoning_text(PROMPT)
CHAT_MODELS = ["mock-reasoning-content", "mock-reasoning", "mock-think", "mock-think-open"]
THINK_OPEN = ["mock-think-open"]
OPENAI_KEY = {"authorization": "Bearer sk-one"}
ANTHROPIC_KEY = {"x-api-key": "sk-ant-one", "anthropic-version": "2023-06-01"}
THINKING = {"type": "enabled", "budget_tokens": 1024}


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if len(s) > 12]


def fragments(text: str) -> list[bytes]:
    """Every run of three words of `text`, as it would appear in a JSON string on the wire.

    The mock streams text three words at a time, so any leaked delta holds one of these."""
    words = text.split()
    runs = (" ".join(words[i : i + 3]) for i in range(len(words) - 2))
    return [json.dumps(run, ensure_ascii=False)[1:-1].encode() for run in runs]


def assert_no_reasoning(raw: bytes, *traces: str) -> None:
    for trace in traces or (TRACE,):
        for fragment in fragments(trace):
            assert fragment not in raw, fragment


def assert_summary(summary: str, trace: str = TRACE) -> None:
    assert summary.strip(), "no summary"
    assert len(summary) < len(trace) / 2
    for sentence in sentences(trace):
        assert sentence not in summary


@pytest.fixture(scope="module")
def mock() -> Iterator[ServerThread]:
    with running_mock() as server:
        yield server


def sidecar_for(mock: ServerThread, policy: str, **overrides: Any) -> Iterator[ServerThread]:
    with running_sidecar(
        mock.url, reasoning_policy_normal=policy, think_open_models=THINK_OPEN, **overrides
    ) as server:
        yield server


@pytest.fixture(scope="module")
def strip(mock: ServerThread) -> Iterator[ServerThread]:
    yield from sidecar_for(mock, "strip")


@pytest.fixture(scope="module")
def summarise(mock: ServerThread) -> Iterator[ServerThread]:
    yield from sidecar_for(mock, "summarise")


@pytest.fixture(scope="module")
def passing(mock: ServerThread) -> Iterator[ServerThread]:
    yield from sidecar_for(mock, "pass")


def openai_client(server: ServerThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="sk-one", max_retries=0)


def anthropic_client(server: ServerThread) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="sk-ant-one", max_retries=0)


def post(server: ServerThread, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = ANTHROPIC_KEY if path == "/v1/messages" else OPENAI_KEY
    return httpx.post(server.url + path, json=body, headers=headers, timeout=15)


def chat_body(model: str, stream: bool, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": stream,
        **extra,
    }


def messages_body(model: str, stream: bool, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 2048,
        "thinking": THINKING,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": stream,
        **extra,
    }


def responses_body(stream: bool, **extra: Any) -> dict[str, Any]:
    return {
        "model": "o4-mini",
        "input": PROMPT,
        "reasoning": {"effort": "low", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "stream": stream,
        **extra,
    }


def sdk_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    """A request body as SDK keyword arguments (the SDK sets `stream` itself)."""
    return {key: value for key, value in body.items() if key != "stream"}


def chat_answer(server: ServerThread, model: str, stream: bool) -> tuple[str, dict[str, Any]]:
    """(content, the other message fields) as the openai SDK hands them to the caller."""
    messages: Any = [{"role": "user", "content": PROMPT}]
    with openai_client(server) as client:
        if stream:
            with client.chat.completions.stream(model=model, messages=messages) as events:
                completion = events.get_final_completion()
        else:
            completion = client.chat.completions.create(model=model, messages=messages)
    message = completion.choices[0].message
    return message.content or "", message.model_dump(exclude={"content"})


def responses_answer(server: ServerThread, stream: bool) -> openai.types.responses.Response:
    """The Responses answer as the openai SDK hands it to the caller."""
    body = sdk_kwargs(responses_body(False))
    with openai_client(server) as client:
        if stream:
            with client.responses.stream(**body) as events:
                return events.get_final_response()
        return client.responses.create(**body)


def messages_answer(server: ServerThread, model: str, stream: bool) -> anthropic.types.Message:
    """The Messages answer as the anthropic SDK hands it to the caller."""
    body = sdk_kwargs(messages_body(model, False))
    with anthropic_client(server) as client:
        if stream:
            with client.messages.stream(**body) as events:
                return events.get_final_message()
        return client.messages.create(**body)


# --- strip -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", CHAT_MODELS)
def test_strip_chat(strip: ServerThread, model: str, stream: bool) -> None:
    content, fields = chat_answer(strip, model, stream)
    assert content.strip() == ANSWER
    assert not fields.get("reasoning_content") and not fields.get("reasoning")
    raw = post(strip, "/v1/chat/completions", chat_body(model, stream))
    assert raw.status_code == 200
    assert_no_reasoning(raw.content)
    assert b"think>" not in raw.content


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["mock-think", "mock-think-open"])
def test_strip_legacy_completions(strip: ServerThread, model: str, stream: bool) -> None:
    with openai_client(strip) as client:
        if stream:
            text = "".join(
                c.choices[0].text
                for c in client.completions.create(model=model, prompt=PROMPT, stream=True)
                if c.choices
            )
        else:
            text = client.completions.create(model=model, prompt=PROMPT).choices[0].text
    assert text.strip() == ANSWER
    raw = post(strip, "/v1/completions", {"model": model, "prompt": PROMPT, "stream": stream})
    assert_no_reasoning(raw.content)
    assert b"think>" not in raw.content


@pytest.mark.parametrize("stream", [False, True])
def test_strip_responses(strip: ServerThread, stream: bool) -> None:
    response = responses_answer(strip, stream)
    assert response.output_text == ANSWER
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.summary == [] and not reasoning.content
    assert (reasoning.encrypted_content or "").startswith("gg1.")
    raw = post(strip, "/v1/responses", responses_body(stream))
    assert_no_reasoning(raw.content, TRACE, mock_summary_text(PROMPT))
    assert b"response.reasoning_" not in raw.content


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["claude-mock-1", "mock-redacted"])
def test_strip_anthropic(strip: ServerThread, model: str, stream: bool) -> None:
    message = messages_answer(strip, model, stream)
    kinds = [block.type for block in message.content]
    expected = ["redacted_thinking", "text"]
    if model == "mock-redacted":
        expected.insert(1, "redacted_thinking")
    assert kinds == expected
    assert message.content[-1].type == "text" and message.content[-1].text == ANSWER
    raw = post(strip, "/v1/messages", messages_body(model, stream))
    assert_no_reasoning(raw.content)
    assert b"thinking_delta" not in raw.content and b'"thinking":' not in raw.content


# --- tool loops ------------------------------------------------------------------------------

CALC_TOOL = {
    "name": "calc",
    "description": "Evaluates arithmetic.",
    "input_schema": {"type": "object"},
}
FUNCTION_TOOL = {
    "type": "function",
    "name": "calc",
    "description": "Evaluates arithmetic.",
    "parameters": {"type": "object", "properties": {}},
}


@pytest.mark.parametrize("policy", ["strip", "summarise"])
@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_tool_loop_with_thinking(
    request: pytest.FixtureRequest, policy: str, stream: bool
) -> None:
    server: ServerThread = request.getfixturevalue(policy)
    body: dict[str, Any] = {
        "model": "claude-mock-1",
        "max_tokens": 2048,
        "thinking": THINKING,
        "tools": [CALC_TOOL],
        "messages": [{"role": "user", "content": PROMPT}],
    }
    with anthropic_client(server) as client:

        def call(messages: list[Any]) -> Any:
            if stream:
                with client.messages.stream(**{**body, "messages": messages}) as events:
                    return events.get_final_message()
            return client.messages.create(**{**body, "messages": messages})

        first = call(body["messages"])
        assert first.stop_reason == "tool_use"
        hidden = first.content[0]
        assert hidden.type == ("redacted_thinking" if policy == "strip" else "thinking")
        tool_use = next(block for block in first.content if block.type == "tool_use")
        result = {"type": "tool_result", "tool_use_id": tool_use.id, "content": "391"}
        # The mock answers 400 unless the original signed thinking block comes back.
        final = call(
            [
                *body["messages"],
                {"role": "assistant", "content": first.content},
                {"role": "user", "content": [result]},
            ]
        )
    assert final.stop_reason == "end_turn"
    assert final.content[-1].text == ANSWER


@pytest.mark.parametrize("stream", [False, True])
def test_responses_function_call_loop_with_encrypted_content(
    strip: ServerThread, stream: bool
) -> None:
    body = sdk_kwargs(responses_body(False, tools=[FUNCTION_TOOL], store=False))
    del body["input"]
    with openai_client(strip) as client:

        def call(items: list[Any]) -> Any:
            if stream:
                with client.responses.stream(**body, input=items) as events:
                    return events.get_final_response()
            return client.responses.create(**body, input=items)

        prompt = [{"role": "user", "content": PROMPT}]
        first = call(prompt)
        kinds = [item.type for item in first.output]
        assert kinds == ["reasoning", "function_call"]
        call_item = first.output[1]
        output = {"type": "function_call_output", "call_id": call_item.call_id, "output": "391"}
        # The mock answers 400 unless the encrypted_content it minted comes back.
        items = [*prompt, *(item.model_dump(exclude_none=True) for item in first.output), output]
        final = call(items)
    assert final.output_text == ANSWER


def test_sealed_chat_reasoning_comes_back_to_the_upstream(mock: ServerThread) -> None:
    for server in sidecar_for(mock, "strip", seal_chat_reasoning=True):
        content, fields = chat_answer(server, "mock-reasoning-content", stream=True)
        sealed = fields["reasoning_content"]
        assert sealed.startswith("gg1.") and "Step 2" not in sealed
        follow_up = {
            "model": "mock-reasoning-content",
            "messages": [
                {"role": "user", "content": PROMPT},
                {"role": "assistant", "content": content, "reasoning_content": sealed},
                {"role": "user", "content": "And 17 * 24?"},
            ],
        }
        assert post(server, "/v1/chat/completions", follow_up).status_code == 200
        seen = httpx.get(mock.url + "/mock/requests").json()[-1]["body"]
        assert seen["messages"][1]["reasoning_content"] == TRACE


# --- summarise -------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", CHAT_MODELS)
def test_summarise_chat(summarise: ServerThread, model: str, stream: bool) -> None:
    content, fields = chat_answer(summarise, model, stream)
    if model in ("mock-reasoning-content", "mock-reasoning"):
        assert content == ANSWER
        assert_summary(fields[model.removeprefix("mock-").replace("-", "_")])
    else:
        summary, _, answer = content.partition("</think>")
        assert answer.strip() == ANSWER
        assert_summary(summary.removeprefix("<think>"))


@pytest.mark.parametrize("stream", [False, True])
def test_summarise_legacy_completions(summarise: ServerThread, stream: bool) -> None:
    raw = post(
        summarise, "/v1/completions", {"model": "mock-think", "prompt": PROMPT, "stream": stream}
    )
    if stream:
        text = "".join(
            json.loads(line[6:])["choices"][0]["text"]
            for line in raw.text.splitlines()
            if line.startswith("data: {") and '"choices":[{' in line
        )
    else:
        text = raw.json()["choices"][0]["text"]
    summary, _, answer = text.partition("</think>")
    assert answer.strip() == ANSWER
    assert_summary(summary.removeprefix("<think>"))


@pytest.mark.parametrize("stream", [False, True])
def test_summarise_responses(summarise: ServerThread, stream: bool) -> None:
    response = responses_answer(summarise, stream)
    assert response.output_text == ANSWER
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert_summary(reasoning.summary[0].text)
    for sentence in sentences(mock_summary_text(PROMPT)):
        assert sentence not in reasoning.summary[0].text


@pytest.mark.parametrize("stream", [False, True])
def test_summarise_anthropic(summarise: ServerThread, stream: bool) -> None:
    message = messages_answer(summarise, "claude-mock-1", stream)
    thinking, text = message.content
    assert thinking.type == "thinking" and text.type == "text"
    assert_summary(thinking.thinking)
    assert thinking.signature.startswith("gg1.")
    assert text.text == ANSWER


# --- pass ------------------------------------------------------------------------------------

PASS_REQUESTS = [
    *(("/v1/chat/completions", chat_body(m, s)) for m in CHAT_MODELS for s in (False, True)),
    *(
        ("/v1/completions", {"model": m, "prompt": PROMPT, "stream": s})
        for m in ("mock-think", "mock-think-open")
        for s in (False, True)
    ),
    *(("/v1/responses", responses_body(s)) for s in (False, True)),
    *(
        ("/v1/messages", messages_body(m, s))
        for m in ("claude-mock-1", "mock-redacted")
        for s in (False, True)
    ),
]


@pytest.mark.parametrize(("path", "body"), PASS_REQUESTS)
def test_pass_is_byte_identical(
    mock: ServerThread, passing: ServerThread, path: str, body: dict[str, Any]
) -> None:
    direct, proxied = post(mock, path, body), post(passing, path, body)
    assert proxied.status_code == direct.status_code == 200
    assert normalise(proxied.content) == normalise(direct.content)


# --- bad sealed blobs ------------------------------------------------------------------------


def upstream_calls(mock: ServerThread) -> int:
    return len(httpx.get(mock.url + "/mock/requests").json())


def tamper(token: str) -> str:
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]


@pytest.fixture(scope="module")
def foreign(mock: ServerThread) -> Iterator[ServerThread]:
    """A sidecar of another deployment (another GUARDGATE_SECRET)."""
    settings = load_settings(
        upstream_url=mock.url,
        secret="another-deployment-secret-0123",
        reasoning_policy_normal="strip",
    )
    with ServerThread(create_app(settings)) as server:
        yield server


def test_bad_anthropic_blob_gets_an_anthropic_400(
    mock: ServerThread, strip: ServerThread, foreign: ServerThread
) -> None:
    first = post(strip, "/v1/messages", messages_body("claude-mock-1", False)).json()
    sealed = first["content"][0]["data"]
    for server, token in ((strip, tamper(sealed)), (foreign, sealed)):
        blocks = [{"type": "redacted_thinking", "data": token}, first["content"][1]]
        body = messages_body("claude-mock-1", False)
        body["messages"] += [
            {"role": "assistant", "content": blocks},
            {"role": "user", "content": "Thanks."},
        ]
        calls = upstream_calls(mock)
        with anthropic_client(server) as client, pytest.raises(anthropic.BadRequestError) as err:
            client.messages.create(**sdk_kwargs(body))
        assert upstream_calls(mock) == calls  # refused before it cost an upstream call
        assert err.value.status_code == 400
        assert err.value.body["type"] == "error"
        assert err.value.body["error"]["type"] == "invalid_request_error"


def test_bad_responses_blob_gets_an_openai_400(
    mock: ServerThread, strip: ServerThread, foreign: ServerThread
) -> None:
    first = post(strip, "/v1/responses", responses_body(False)).json()
    item = first["output"][0]
    for server, token in ((strip, tamper(item["encrypted_content"])), (foreign, None)):
        sent = {**item, "encrypted_content": token or item["encrypted_content"]}
        items = [{"role": "user", "content": PROMPT}, sent, first["output"][1]]
        calls = upstream_calls(mock)
        with openai_client(server) as client, pytest.raises(openai.BadRequestError) as err:
            client.responses.create(model="o4-mini", input=items)
        assert upstream_calls(mock) == calls
        assert err.value.status_code == 400
        body: Any = err.value.body
        assert body["type"] == "invalid_request_error" and "reasoning" in body["message"]


# --- request rewriting -----------------------------------------------------------------------


def test_strip_drops_logprob_parameters_upstream(mock: ServerThread, strip: ServerThread) -> None:
    extra = {"logprobs": True, "top_logprobs": 5, "logit_bias": {"1234": -100}}
    vllm = {"prompt_logprobs": 5, "echo": True}  # vLLM's extensions: the prompt's logprobs
    body = chat_body("gpt-4o", False, **extra, **vllm)
    assert post(strip, "/v1/chat/completions", body).is_success
    seen = httpx.get(mock.url + "/mock/requests").json()[-1]["body"]
    assert seen["model"] == "gpt-4o" and seen["messages"][0]["content"] == PROMPT
    assert not {"logprobs", "top_logprobs", "logit_bias", "prompt_logprobs", "echo"} & set(seen)
    completion = {"model": "mock-think", "prompt": PROMPT, "logprobs": 3, "logit_bias": {"1": 1}}
    assert post(strip, "/v1/completions", {**completion, **vllm}).is_success
    seen = httpx.get(mock.url + "/mock/requests").json()[-1]["body"]
    assert not {"logprobs", "logit_bias", "prompt_logprobs", "echo"} & set(seen)


def test_strip_asks_the_upstream_to_omit_reasoning(mock: ServerThread, strip: ServerThread) -> None:
    post(strip, "/v1/messages", messages_body("claude-mock-1", False))
    seen = httpx.get(mock.url + "/mock/requests").json()[-1]["body"]
    assert seen["thinking"] == {**THINKING, "display": "omitted"}
    post(strip, "/v1/responses", responses_body(False))
    seen = httpx.get(mock.url + "/mock/requests").json()[-1]["body"]
    assert "summary" not in seen["reasoning"]


@pytest.mark.parametrize("stream", [False, True])
def test_strip_when_the_prompt_opens_think(foreign: ServerThread, stream: bool) -> None:
    # No model pattern names `mock-think-open` here: the prompt's trailing <think> tells.
    prompt = PROMPT + "\n<think>"
    body = {"model": "mock-think-open", "prompt": prompt, "stream": stream}
    raw = post(foreign, "/v1/completions", body)
    assert raw.status_code == 200
    assert_no_reasoning(raw.content, mock_reasoning_text(prompt))
    assert mock_answer_text(prompt).split(" (")[0].split()[-1].encode() in raw.content


@pytest.mark.parametrize("stream", [False, True])
def test_strip_chat_with_several_choices(strip: ServerThread, stream: bool) -> None:
    messages: Any = [{"role": "user", "content": PROMPT}]
    with openai_client(strip) as client:
        if stream:
            with client.chat.completions.stream(
                model="mock-reasoning-content", messages=messages, n=2
            ) as events:
                completion = events.get_final_completion()
        else:
            completion = client.chat.completions.create(
                model="mock-reasoning-content", messages=messages, n=2
            )
    for choice in completion.choices:
        assert choice.message.content == mock_answer_text(PROMPT, choice.index)
        assert not choice.message.model_dump().get("reasoning_content")
    body = chat_body("mock-reasoning-content", stream, n=2)
    raw = post(strip, "/v1/chat/completions", body).content
    assert_no_reasoning(raw, mock_reasoning_text(PROMPT, 0), mock_reasoning_text(PROMPT, 1))


def test_anthropic_interleaved_thinking_tool_loop(strip: ServerThread) -> None:
    beta = {"anthropic-beta": "interleaved-thinking-2025-05-14"}
    body: dict[str, Any] = {
        "model": "claude-mock-1",
        "max_tokens": 2048,
        "thinking": THINKING,
        "tools": [CALC_TOOL],
    }
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    with anthropic_client(strip) as client:
        with client.messages.stream(**body, messages=messages, extra_headers=beta) as events:
            first = events.get_final_message()
        tool_use = next(block for block in first.content if block.type == "tool_use")
        result = {"type": "tool_result", "tool_use_id": tool_use.id, "content": "391"}
        messages += [
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [result]},
        ]
        # Interleaved: the answer after the tool result thinks again, and both blocks go back.
        second = client.messages.create(**body, messages=messages, extra_headers=beta)
        assert [b.type for b in second.content] == ["redacted_thinking", "text"]
        messages += [
            {"role": "assistant", "content": second.content},
            {"role": "user", "content": "And 17 * 24?"},
        ]
        third = client.messages.create(**body, messages=messages, extra_headers=beta)
    # The mock checks every thinking block of every assistant turn: both came back intact.
    assert third.stop_reason == "tool_use"


def test_bad_chat_blob_gets_an_openai_400(mock: ServerThread) -> None:
    for server in sidecar_for(mock, "strip", seal_chat_reasoning=True):
        content, fields = chat_answer(server, "mock-reasoning-content", stream=False)
        assistant = {
            "role": "assistant",
            "content": content,
            "reasoning_content": tamper(fields["reasoning_content"]),
        }
        messages: Any = [{"role": "user", "content": PROMPT}, assistant]
        calls = upstream_calls(mock)
        with openai_client(server) as client, pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model="mock-reasoning-content", messages=messages)
        assert upstream_calls(mock) == calls
        body: Any = err.value.body
        assert err.value.status_code == 400 and body["type"] == "invalid_request_error"
