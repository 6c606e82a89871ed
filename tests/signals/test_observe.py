"""Observations built from real-looking requests of each wire format."""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

from guardgate.model import ApiKind, DetectionMode
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer
from guardgate.signals.config import SignalConfig

SETTINGS = GuardgateSettings(secret="test-secret", trusted_proxies=["10.0.0.0/8"])
KEY = "sk-live-abcdef0123456789"
SDK_HEADERS = [
    (b"authorization", f"Bearer {KEY}".encode()),
    (b"content-type", b"application/json"),
    (b"user-agent", b"OpenAI/Python 1.99.0"),
    (b"x-stainless-lang", b"python"),
    (b"x-stainless-package-version", b"1.99.0"),
    (b"x-stainless-os", b"Linux"),
    (b"x-stainless-arch", b"x64"),
    (b"x-stainless-runtime", b"CPython"),
    (b"x-stainless-runtime-version", b"3.11.7"),
]
EDGE = [(b"x-ja4", b"t13d1516h2_8daaf6152771_02713d6af862"), (b"x-http2-fingerprint", b"1:65536")]
SYSTEM = "You are Acme's support assistant. Today is 2026-11-02."
PROMPT = "My order 12345 arrived broken; please explain the refund steps for Alice in detail."


def chat_body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": [{"type": "text", "text": PROMPT}]},
        ],
        "temperature": 0.2,
        "max_tokens": 512,
        **extra,
    }


def observe(
    headers: list[tuple[bytes, bytes]],
    body: dict[str, Any],
    peer: str = "203.0.113.7",
    api: ApiKind = ApiKind.OPENAI_CHAT,
) -> Any:
    return Observer(SETTINGS).observe(api, headers, peer, body, 1000.0)


def test_edge_fingerprints_are_believed_only_from_trusted_proxies() -> None:
    forwarded = [*SDK_HEADERS, (b"x-forwarded-for", b"198.51.100.4"), *EDGE]
    direct = observe(forwarded, chat_body(), peer="203.0.113.7")
    proxied = observe(forwarded, chat_body(), peer="10.1.2.3")
    assert direct.tls_fingerprint == "" and direct.client_ip == "203.0.113.7"
    assert proxied.tls_fingerprint == "t13d1516h2_8daaf6152771_02713d6af862|1:65536"
    assert (proxied.client_ip, proxied.ip_prefix) == ("198.51.100.4", "198.51.100.0/24")
    # What the proxy adds does not change the client's header-order fingerprint.
    assert (
        direct.header_order_hash
        == proxied.header_order_hash
        == observe(SDK_HEADERS, chat_body()).header_order_hash
    )


def test_edge_header_names_are_configurable() -> None:
    observer = Observer(SETTINGS, SignalConfig(ja4_header="cf-ja4", ja3_header="cf-ja3"))
    headers = [*SDK_HEADERS, (b"cf-ja3", b"771,4865-4866,0-23,29-23,0")]
    obs = observer.observe(ApiKind.OPENAI_CHAT, headers, "10.0.0.1", chat_body(), 1.0)
    assert obs.tls_fingerprint == "771,4865-4866,0-23,29-23,0"


def test_client_software_fingerprints() -> None:
    obs = observe(SDK_HEADERS, chat_body())
    assert obs.sdk_tuple == "python/1.99.0/Linux/x64/CPython/3.11.7"
    assert obs.user_agent == "OpenAI/Python 1.99.0"
    reordered = [SDK_HEADERS[2], SDK_HEADERS[0], *SDK_HEADERS[3:], SDK_HEADERS[1]]
    assert observe(reordered, chat_body()).header_order_hash != obs.header_order_hash


def test_parameters_and_key_order_are_told_apart() -> None:
    base = observe(SDK_HEADERS, chat_body())
    reordered_body = dict(reversed(list(chat_body().items())))
    reordered = observe(SDK_HEADERS, reordered_body)
    assert reordered.param_signature == base.param_signature
    assert reordered.key_order_hash != base.key_order_hash
    hotter = observe(SDK_HEADERS, chat_body(temperature=0.9))
    assert hotter.param_signature != base.param_signature
    # The model is not a parameter: a farm moving to a new model keeps its signature.
    other_model = observe(SDK_HEADERS, {**chat_body(), "model": "gpt-y"})
    assert other_model.param_signature == base.param_signature


def test_system_prompt_and_tools_hash_alike_across_wire_formats() -> None:
    tools_chat = [
        {
            "type": "function",
            "function": {
                "name": "search",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            },
        }
    ]
    tools_anthropic = [
        {"name": "search", "input_schema": {"type": "object", "properties": {"query": {}}}}
    ]
    chat = observe(SDK_HEADERS, chat_body(tools=tools_chat))
    messages = observe(
        SDK_HEADERS,
        {
            "model": "claude-x",
            "max_tokens": 100,
            "system": [{"type": "text", "text": SYSTEM.replace("02", "03")}],
            "messages": [{"role": "user", "content": PROMPT}],
            "tools": tools_anthropic,
        },
        api=ApiKind.ANTHROPIC_MESSAGES,
    )
    responses = observe(
        SDK_HEADERS,
        {"model": "gpt-x", "instructions": SYSTEM, "input": PROMPT},
        api=ApiKind.OPENAI_RESPONSES,
    )
    # Same system prompt (a date changed), same tool skeleton, same prompt template.
    assert chat.system_hash == messages.system_hash == responses.system_hash != ""
    assert chat.tools_hash == messages.tools_hash != ""
    assert responses.tools_hash == ""
    assert chat.template_hash == messages.template_hash == responses.template_hash
    assert chat.template_sketch == responses.template_sketch != ()


def test_content_flags_and_no_raw_secret_or_text() -> None:
    obs = observe(SDK_HEADERS, chat_body())
    assert not obs.elicits_reasoning and obs.capability == "chat"
    asks = observe(
        SDK_HEADERS,
        chat_body(
            messages=[
                {"role": "user", "content": "Solve 2x+1=5. Think step by step and show your work."}
            ]
        ),
    )
    assert asks.elicits_reasoning and asks.capability == "reasoning"
    # The system message is not a turn: a system prompt does not make a prompt a conversation.
    assert obs.turns == 1 and obs.max_tokens == 512
    thinking = observe(
        SDK_HEADERS,
        {
            "model": "c",
            "max_tokens": 9,
            "messages": [{"role": "user", "content": "hi"}],
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        },
        api=ApiKind.ANTHROPIC_MESSAGES,
    )
    assert thinking.elicits_reasoning
    flat = repr(astuple(obs))
    for secret in (KEY, "Acme", "refund", "broken"):
        assert secret not in flat


def test_one_observer_gives_each_header_list_and_peer_its_own_signals() -> None:
    """Signals remembered for a header list are never given to another list or peer."""
    observer = Observer(SETTINGS)
    other_key = [(b"authorization", b"Bearer sk-other"), *SDK_HEADERS[1:]]
    forwarded = [*SDK_HEADERS, (b"x-forwarded-for", b"198.51.100.4"), *EDGE]
    cases = [
        (SDK_HEADERS, "203.0.113.7"),
        (SDK_HEADERS, "203.0.113.8"),
        (other_key, "203.0.113.7"),
        (list(reversed(SDK_HEADERS)), "203.0.113.7"),
        (forwarded, "10.1.2.3"),
        (forwarded, "203.0.113.7"),
    ]
    for _ in range(2):  # the second round is answered from what the first remembered
        for headers, peer in cases:
            fresh = Observer(SETTINGS).observe(ApiKind.OPENAI_CHAT, headers, peer, chat_body(), 1.0)
            seen = observer.observe(ApiKind.OPENAI_CHAT, headers, peer, chat_body(), 1.0)
            assert seen == fresh
    # the last case is the first one's client behind an untrusted proxy: the same signals
    signals = {
        (o.account, o.client_ip, o.header_order_hash, o.tls_fingerprint)
        for o in (
            observer.observe(ApiKind.OPENAI_CHAT, h, p, chat_body(), 1.0) for h, p in cases[:-1]
        )
    }
    assert len(signals) == len(cases) - 1
    # header pairs given as lists (some servers do) are observed alike
    as_lists: Any = [list(pair) for pair in SDK_HEADERS]
    assert observer.observe(ApiKind.OPENAI_CHAT, as_lists, "203.0.113.7", chat_body(), 1.0) == (
        observer.observe(ApiKind.OPENAI_CHAT, SDK_HEADERS, "203.0.113.7", chat_body(), 1.0)
    )


def test_a_sender_is_remembered_across_per_request_header_values() -> None:
    """A client's content-length, retry count and trace ids change from request to request: they
    give no signal, so its sender is computed once; any value that gives one is told apart."""
    observer = Observer(SETTINGS.model_copy(update={"detection": DetectionMode.PROCESS}))

    def sent(length: int, retry: int, extra: tuple[tuple[bytes, bytes], ...] = ()) -> Any:
        return observer.sender(
            [
                *SDK_HEADERS,
                (b"x-stainless-retry-count", str(retry).encode()),
                (b"traceparent", f"00-{length:032x}-{retry:016x}-01".encode()),
                (b"content-length", str(length).encode()),
                *extra,
            ],
            "203.0.113.7",
        )

    first = sent(218, 0)
    assert sent(4096, 1) is first
    # The detector gets every header name, in order, but only the values that give signals.
    assert [name for name, _ in first.credential_free][-3:] == [
        b"x-stainless-retry-count",
        b"traceparent",
        b"content-length",
    ]
    kept = {name for name, value in first.credential_free if value}
    assert kept == {name for name, _ in SDK_HEADERS} - {b"authorization", b"content-type"}
    assert KEY.encode() not in b"".join(value for _, value in first.credential_free)
    for extra in (
        ((b"user-agent", b"curl/8.0"),),
        ((b"x-forwarded-for", b"198.51.100.4"),),
        ((b"x-api-key", b"sk-another"),),
        ((b"x-ja4", b"t13d1516h2_8daaf6152771_02713d6af862"),),
    ):
        assert sent(218, 0, extra) is not first
    other_key = observer.sender(
        [(b"authorization", b"Bearer sk-other"), *SDK_HEADERS[1:]], "203.0.113.7"
    )
    assert other_key.account != first.account


def test_remembered_prompt_features_follow_tools_and_system_prompt() -> None:
    observer = Observer(SETTINGS)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    bodies = [
        chat_body(),
        chat_body(tools=tools),
        {"model": "gpt-x", "messages": [{"role": "user", "content": PROMPT}]},
        {
            "model": "gpt-x",
            "messages": [
                {"role": "system", "content": "Think step by step."},
                {"role": "user", "content": PROMPT},
            ],
        },
        {"model": "gpt-x", "messages": [{"role": "user", "content": "Think step by step."}]},
    ]
    for _ in range(2):
        for body in bodies:
            fresh = Observer(SETTINGS).observe(
                ApiKind.OPENAI_CHAT, SDK_HEADERS, "1.2.3.4", body, 1.0
            )
            assert observer.observe(ApiKind.OPENAI_CHAT, SDK_HEADERS, "1.2.3.4", body, 1.0) == fresh
    areas = [
        observer.observe(ApiKind.OPENAI_CHAT, SDK_HEADERS, "1.2.3.4", b, 1.0).capability
        for b in bodies[:2]
    ]
    assert areas == ["chat", "tools"]
    elicits = [
        observer.observe(ApiKind.OPENAI_CHAT, SDK_HEADERS, "1.2.3.4", b, 1.0).elicits_reasoning
        for b in bodies[2:]
    ]
    assert elicits == [False, True, True]


def test_a_copied_system_prompt_does_not_make_a_single_shot_prompt_a_conversation() -> None:
    ask = {"role": "user", "content": "Prove that there are infinitely many primes."}
    bare = observe(SDK_HEADERS, {"model": "m", "messages": [ask]})
    system = {"role": "system", "content": "You are the assistant of a popular app."}
    developer = {"role": "developer", "content": "Be concise."}
    dressed = observe(SDK_HEADERS, {"model": "m", "messages": [system, developer, ask]})
    assert bare.turns == dressed.turns == 1
    assert bare.template_hash == dressed.template_hash
    answered = {"role": "assistant", "content": "Suppose there were finitely many..."}
    follow = {"role": "user", "content": "Now do the same for primes of the form 4k+3."}
    chat = observe(SDK_HEADERS, {"model": "m", "messages": [system, ask, answered, follow]})
    assert chat.turns == 3
    only_last = observe(SDK_HEADERS, {"model": "m", "messages": [follow]})
    assert chat.template_hash == only_last.template_hash  # the prompt is the last user turn
