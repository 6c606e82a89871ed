"""An LLM API written with FastAPI, protected by guardgate's middleware.

Run it (guardgate reads its settings from the environment):

    GUARDGATE_SECRET=$(openssl rand -hex 32) GUARDGATE_ADMIN_TOKEN=$(openssl rand -hex 24) \
        uvicorn examples.fastapi_app:app --port 8000 --no-proxy-headers

`--no-proxy-headers`: uvicorn would otherwise rewrite the client address from `X-Forwarded-For`
whenever the peer is in its `--forwarded-allow-ips` (127.0.0.1 by default), before guardgate sees
the request, so any local process could claim any address. guardgate applies the one rule itself:
behind a load balancer or proxy, list it in `GUARDGATE_TRUSTED_PROXIES` (CIDRs) and guardgate walks
`X-Forwarded-For` from the right, stopping at the first hop that is not a trusted proxy.

Then any OpenAI SDK works against http://127.0.0.1:8000/v1, the dashboard is at
http://127.0.0.1:8000/_guardgate/admin/ and metrics at /_guardgate/metrics.

The endpoint below stands in for a real model: it answers in the OpenAI Chat Completions format
with a `reasoning_content` field, as DeepSeek-style servers do. guardgate sits in front of it and
decides per request whether that reasoning reaches the client.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from guardgate import GuardgateMiddleware

app = FastAPI(title="example LLM API")
# Zero arguments: settings come from GUARDGATE_* environment variables. Add it last so that it
# is the outermost middleware and sees each request first.
app.add_middleware(GuardgateMiddleware)


@app.post("/v1/chat/completions")
async def chat_completions(request: Request) -> JSONResponse:
    """A toy model: thinks out loud, then answers."""
    body: dict[str, Any] = await request.json()
    question = str(body.get("messages", [{}])[-1].get("content", ""))
    return JSONResponse(
        {
            "id": "chatcmpl-" + uuid.uuid4().hex,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "toy"),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "reasoning_content": f"The user asks {len(question)} characters; "
                        "first I restate the problem, then I check each step.",
                        "content": "Here is my answer.",
                    },
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32},
        }
    )
