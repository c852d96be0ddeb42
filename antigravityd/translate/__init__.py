"""Client dialects ⇄ Cloud Code ``v1internal``: pure functions and stream state machines, no I/O, no clocks.

Requests (client body → inner upstream ``request``; then :func:`envelope.build_envelope`):
``openai_chat``, ``gemini_native`` (+ ``count_tokens``).
Responses (upstream events → client events, and the non-stream body from the same state):
``openai_chat_stream``, ``gemini_stream``.
Shared rules: ``models`` (routing, caps), ``schema`` (tool/response schema cleaning), ``signatures`` and
``signature_cache`` (thought signatures), ``session`` (session ids), ``generation`` (thinking, output caps),
``hygiene`` (contents), ``tools``, ``tool_args``, ``media``, ``usage``, ``upstream_events``, ``models_listing``.
Only :class:`errors.ClientError` escapes a translator for bad client input.
"""
