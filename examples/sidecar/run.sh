#!/bin/sh
# guardgate as a sidecar in front of any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp,
# a DeepSeek-compatible API...). Clients talk to this port instead of the server's.
#
#   GUARDGATE_UPSTREAM_URL=http://127.0.0.1:8000 GUARDGATE_SECRET=... examples/sidecar/run.sh
#
# Every other GUARDGATE_* variable (README: "Settings") is passed through unchanged.
set -eu
: "${GUARDGATE_UPSTREAM_URL:=http://127.0.0.1:8000}"
: "${GUARDGATE_SECRET:?set GUARDGATE_SECRET to a long random string (the same on every replica)}"
export GUARDGATE_UPSTREAM_URL GUARDGATE_SECRET
exec guardgate serve --host "${HOST:-0.0.0.0}" --port "${PORT:-8080}"
