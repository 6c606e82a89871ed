"""Wire formats of the LLM APIs (OpenAI Chat, legacy Completions, OpenAI Responses, Anthropic
Messages; JSON and SSE), one `Dialect` per API in `dialects/`.

Nothing in here knows about detection.
"""
