"""Client builds: the headers and body key order that each kind of client really sends.

Header layouts were taken from the SDKs' sources and from a capture of the installed
`openai` 3.57 and `anthropic` 2.13 Python SDKs against a local server. Older SDK lines are
modelled on their published sources: openai-python 1.x puts `Authorization` after the
`X-Stainless-*` platform headers, and anthropic-python 0.x sends `X-Api-Key` with
`anthropic-version: 2023-06-01`, whereas anthropic-python 2.x sends `Authorization: Bearer`.
Transport headers that the replayer must set itself (`host`, `content-length`) are left out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from guardgate.model import ApiKind


class ClientKind(Enum):
    """The family of software that sends a request."""

    OPENAI_PY = "openai-python"
    ANTHROPIC_PY = "anthropic-python"
    OPENAI_NODE = "openai-node"
    ANTHROPIC_NODE = "anthropic-node"
    OPENAI_BROWSER = "openai-node-browser"
    CLAUDE_CLI = "claude-cli"
    CODEX_CLI = "codex-cli"
    CURL = "curl"
    REQUESTS = "python-requests"
    AIOHTTP = "aiohttp"
    AXIOS = "axios"


@dataclass(frozen=True)
class ClientBuild:
    """One concrete client installation: library, version and the machine it runs on."""

    kind: ClientKind
    version: str
    os: str = "Linux"
    arch: str = "x64"
    runtime_version: str = "3.11.9"
    is_async: bool = False
    browser: str = ""

    @property
    def sends_stainless(self) -> bool:
        """Whether this client sends the Stainless SDK `x-stainless-*` headers."""
        return self.kind in _STAINLESS_KINDS


_STAINLESS_KINDS = frozenset(
    {
        ClientKind.OPENAI_PY,
        ClientKind.ANTHROPIC_PY,
        ClientKind.OPENAI_NODE,
        ClientKind.ANTHROPIC_NODE,
        ClientKind.OPENAI_BROWSER,
        ClientKind.CLAUDE_CLI,
    }
)

OPENAI_PY_VERSIONS = (
    "1.40.6",
    "1.51.2",
    "1.54.3",
    "1.58.1",
    "1.66.3",
    "1.82.1",
    "1.99.9",
    "2.6.1",
    "2.14.0",
    "3.21.0",
    "3.44.2",
    "3.57.0",
)
ANTHROPIC_PY_VERSIONS = ("0.39.0", "0.42.0", "0.49.0", "0.57.1", "0.64.0", "2.11.0", "2.13.0")
OPENAI_NODE_VERSIONS = ("4.67.3", "4.77.0", "4.104.0", "5.12.2", "6.3.0")
ANTHROPIC_NODE_VERSIONS = ("0.32.1", "0.39.0", "0.52.0", "0.60.0")
CLAUDE_CLI_VERSIONS = ("1.0.98", "2.0.14", "2.0.31", "2.1.4")
CODEX_CLI_VERSIONS = ("0.39.0", "0.46.0", "0.58.0")
CURL_VERSIONS = ("7.81.0", "8.4.0", "8.5.0", "8.7.1", "8.11.1")
REQUESTS_VERSIONS = ("2.28.2", "2.31.0", "2.32.3", "2.32.4")
AIOHTTP_VERSIONS = ("3.9.5", "3.10.11", "3.11.18", "3.12.15")
AXIOS_VERSIONS = ("1.6.8", "1.7.9", "1.11.0")
PYTHON_VERSIONS = ("3.9.18", "3.10.12", "3.11.7", "3.11.9", "3.12.3", "3.12.7", "3.13.1")
NODE_VERSIONS = ("v18.19.0", "v20.11.1", "v20.18.0", "v22.11.0", "v22.14.0")

_BROWSERS = (
    (
        "chrome",
        "131.0.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
    ),
    (
        "chrome",
        "132.0.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/132.0.0.0 Safari/537.36",
    ),
    (
        "firefox",
        "133.0.0",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ),
    (
        "safari",
        "18.1.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
    ),
)

_OS_CHOICES = (("Linux", "x64"), ("MacOS", "arm64"), ("MacOS", "x64"), ("Windows", "x64"))
_OS_WEIGHTS = (0.42, 0.33, 0.05, 0.20)


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def random_build(rng: random.Random, kind: ClientKind, *, server: bool = False) -> ClientBuild:
    """A plausible build of `kind`, skewed towards recent versions; `server` means Linux x64."""
    versions = {
        ClientKind.OPENAI_PY: OPENAI_PY_VERSIONS,
        ClientKind.ANTHROPIC_PY: ANTHROPIC_PY_VERSIONS,
        ClientKind.OPENAI_NODE: OPENAI_NODE_VERSIONS,
        ClientKind.OPENAI_BROWSER: OPENAI_NODE_VERSIONS,
        ClientKind.ANTHROPIC_NODE: ANTHROPIC_NODE_VERSIONS,
        ClientKind.CLAUDE_CLI: CLAUDE_CLI_VERSIONS,
        ClientKind.CODEX_CLI: CODEX_CLI_VERSIONS,
        ClientKind.CURL: CURL_VERSIONS,
        ClientKind.REQUESTS: REQUESTS_VERSIONS,
        ClientKind.AIOHTTP: AIOHTTP_VERSIONS,
        ClientKind.AXIOS: AXIOS_VERSIONS,
    }[kind]
    # Later versions are likelier: people upgrade, slowly.
    weights = [1.0 + i for i in range(len(versions))]
    version = rng.choices(versions, weights)[0]
    os_name, arch = ("Linux", "x64") if server else rng.choices(_OS_CHOICES, _OS_WEIGHTS)[0]
    is_node = kind in (ClientKind.OPENAI_NODE, ClientKind.ANTHROPIC_NODE, ClientKind.CLAUDE_CLI)
    runtime = rng.choice(NODE_VERSIONS) if is_node else rng.choice(PYTHON_VERSIONS)
    browser = ""
    if kind is ClientKind.OPENAI_BROWSER:
        browser = str(rng.randrange(len(_BROWSERS)))
    return ClientBuild(
        kind=kind,
        version=version,
        os=os_name,
        arch=arch,
        runtime_version=runtime,
        is_async=rng.random() < 0.35,
        browser=browser,
    )


def _stainless_py(build: ClientBuild) -> list[tuple[str, str]]:
    return [
        ("x-stainless-lang", "python"),
        ("x-stainless-package-version", build.version),
        ("x-stainless-os", build.os),
        ("x-stainless-arch", build.arch),
        ("x-stainless-runtime", "CPython"),
        ("x-stainless-runtime-version", build.runtime_version),
    ]


def _stainless_js(build: ClientBuild, runtime: str, runtime_version: str) -> list[tuple[str, str]]:
    os_name = {"MacOS": "MacOS", "Windows": "Windows"}.get(build.os, "Linux")
    return [
        ("x-stainless-lang", "js"),
        ("x-stainless-package-version", build.version),
        ("x-stainless-os", os_name if runtime == "node" else "Unknown"),
        ("x-stainless-arch", build.arch if runtime == "node" else "unknown"),
        ("x-stainless-runtime", runtime),
        ("x-stainless-runtime-version", runtime_version),
    ]


def header_template(build: ClientBuild, api: ApiKind, key: str) -> list[tuple[str, str]]:
    """The headers `build` sends to `api` with `key`, in wire order.

    The value of `x-stainless-retry-count` is "0"; the emitter rewrites it for retries.
    """
    anthropic = api.is_anthropic
    kind = build.kind
    if kind is ClientKind.OPENAI_PY or kind is ClientKind.ANTHROPIC_PY:
        return _python_sdk_headers(build, anthropic, key)
    if kind in (ClientKind.OPENAI_NODE, ClientKind.ANTHROPIC_NODE, ClientKind.CLAUDE_CLI):
        return _node_sdk_headers(build, anthropic, key)
    if kind is ClientKind.OPENAI_BROWSER:
        name, version, agent = _BROWSERS[int(build.browser or "0")]
        return [
            ("accept", "application/json"),
            ("accept-language", "en-US,en;q=0.9"),
            ("authorization", f"Bearer {key}"),
            ("content-type", "application/json"),
            ("origin", "https://playground.local-llm-tools.dev"),
            ("referer", "https://playground.local-llm-tools.dev/"),
            ("user-agent", agent),
            *_stainless_js(build, f"browser:{name}", version),
            ("x-stainless-retry-count", "0"),
            ("sec-fetch-dest", "empty"),
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-site", "cross-site"),
            ("accept-encoding", "gzip, deflate, br, zstd"),
        ]
    if kind is ClientKind.CODEX_CLI:
        return [
            ("authorization", f"Bearer {key}"),
            ("version", build.version),
            ("openai-beta", "responses=experimental"),
            ("originator", "codex_cli_rs"),
            (
                "user-agent",
                f"codex_cli_rs/{build.version} ({_codex_platform(build)}) xterm-256color",
            ),
            ("accept", "text/event-stream"),
            ("content-type", "application/json"),
        ]
    auth = _auth_pairs(anthropic, key, legacy=True)
    if kind is ClientKind.CURL:
        # curl puts its own headers first, then -H flags in the order the docs show them.
        if anthropic:
            user = [*auth, ("content-type", "application/json")]
        else:
            user = [("content-type", "application/json"), *auth]
        return [("user-agent", f"curl/{build.version}"), ("accept", "*/*"), *user]
    if kind is ClientKind.REQUESTS:
        return [
            ("user-agent", f"python-requests/{build.version}"),
            ("accept-encoding", "gzip, deflate"),
            ("accept", "*/*"),
            ("connection", "keep-alive"),
            *auth,
            ("content-type", "application/json"),
        ]
    if kind is ClientKind.AIOHTTP:
        major_minor = ".".join(build.runtime_version.split(".")[:2])
        return [
            *auth,
            ("accept", "*/*"),
            ("accept-encoding", "gzip, deflate"),
            ("user-agent", f"Python/{major_minor} aiohttp/{build.version}"),
            ("content-type", "application/json"),
        ]
    # axios
    return [
        ("accept", "application/json, text/plain, */*"),
        ("content-type", "application/json"),
        *auth,
        ("user-agent", f"axios/{build.version}"),
        ("accept-encoding", "gzip, compress, deflate, br"),
    ]


def _codex_platform(build: ClientBuild) -> str:
    system = "Mac OS 15.1.0" if build.os == "MacOS" else "Ubuntu 24.04"
    return f"{system}; {'arm64' if build.arch == 'arm64' else 'x86_64'}"


def _auth_pairs(anthropic: bool, key: str, *, legacy: bool) -> list[tuple[str, str]]:
    if not anthropic:
        return [("authorization", f"Bearer {key}")]
    if legacy:
        return [("x-api-key", key), ("anthropic-version", "2023-06-01")]
    return [("authorization", f"Bearer {key}"), ("anthropic-version", "2026-10-21")]


def _python_sdk_headers(build: ClientBuild, anthropic: bool, key: str) -> list[tuple[str, str]]:
    cls = ("Async" if build.is_async else "") + ("Anthropic" if anthropic else "OpenAI")
    async_value = "async:asyncio" if build.is_async else "false"
    version = _version_tuple(build.version)
    head = [("accept-encoding", "gzip, deflate"), ("connection", "keep-alive")]
    body = [
        ("accept", "application/json"),
        ("content-type", "application/json"),
        ("user-agent", f"{cls}/Python {build.version}"),
        *_stainless_py(build),
    ]
    if anthropic:
        if version >= (2, 10):
            # Captured from anthropic-python 2.13: timeouts first, Bearer auth, new API version.
            return [
                *head,
                ("x-stainless-timeout", "600"),
                ("x-stainless-retry-count", "0"),
                ("x-stainless-read-timeout", "600"),
                *body,
                ("authorization", f"Bearer {key}"),
                ("x-stainless-async", async_value),
                ("anthropic-version", "2026-10-21"),
            ]
        return [
            *head,
            *body,
            ("x-api-key", key),
            ("x-stainless-async", async_value),
            ("anthropic-version", "2023-06-01"),
            ("x-stainless-retry-count", "0"),
            ("x-stainless-timeout", "600"),
        ]
    tail = [("x-stainless-retry-count", "0")]
    if version >= (1, 58):
        tail.append(("x-stainless-read-timeout", "600"))
    if version >= (3, 0):
        # Captured from openai-python 3.57: auth headers are merged first.
        return [
            *head,
            ("authorization", f"Bearer {key}"),
            *body,
            ("x-stainless-async", async_value),
            *tail,
        ]
    return [
        *head,
        *body,
        ("authorization", f"Bearer {key}"),
        ("x-stainless-async", async_value),
        *tail,
    ]


def _node_sdk_headers(build: ClientBuild, anthropic: bool, key: str) -> list[tuple[str, str]]:
    if build.kind is ClientKind.CLAUDE_CLI:
        agent = f"claude-cli/{build.version} (external, cli)"
        sdk_version = "0.60.0"
    else:
        agent = ("Anthropic" if anthropic else "OpenAI") + f"/JS {build.version}"
        sdk_version = build.version
    sdk_build = ClientBuild(build.kind, sdk_version, build.os, build.arch, build.runtime_version)
    pairs = [
        ("accept", "application/json"),
        ("content-type", "application/json"),
        ("user-agent", agent),
        *_stainless_js(sdk_build, "node", build.runtime_version),
        *_auth_pairs(anthropic, key, legacy=True),
        ("x-stainless-retry-count", "0"),
        ("x-stainless-timeout", "600"),
    ]
    if build.kind is ClientKind.CLAUDE_CLI:
        pairs += [
            ("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14"),
            ("anthropic-dangerous-direct-browser-access", "true"),
            ("x-app", "cli"),
        ]
    pairs += [("accept-encoding", "gzip, deflate"), ("connection", "keep-alive")]
    return pairs


# Keyword-argument order in which the SDKs serialise request bodies (they keep their own
# signature order, not the caller's), so the body key order is part of the client fingerprint.
_OPENAI_PY_LEGACY_ORDER = ("messages", "model", "input", "instructions")
_OPENAI_PY_MODERN_ORDER = ("model", "stream", "messages", "input", "instructions")
_ANTHROPIC_PY_ORDER = ("max_tokens", "messages", "model")


def order_body(build: ClientBuild, body: dict[str, object]) -> dict[str, object]:
    """`body` with its keys in the order `build` serialises them."""
    first: tuple[str, ...]
    if build.kind is ClientKind.OPENAI_PY:
        modern = _version_tuple(build.version) >= (3, 0)
        first = _OPENAI_PY_MODERN_ORDER if modern else _OPENAI_PY_LEGACY_ORDER
    elif build.kind is ClientKind.ANTHROPIC_PY:
        first = _ANTHROPIC_PY_ORDER
    else:
        # Hand-written clients and the JS SDKs keep the order the developer wrote.
        return body
    ordered = {k: body[k] for k in first if k in body}
    for k in sorted(body):
        if k not in ordered:
            ordered[k] = body[k]
    return ordered
