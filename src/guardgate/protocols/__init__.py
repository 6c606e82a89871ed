"""Wire formats of the LLM APIs (OpenAI Chat, OpenAI Responses, Anthropic Messages; JSON and SSE).

Nothing in here knows about detection.
"""
