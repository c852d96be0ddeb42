"""The Cloud Code ``v1internal`` client, its error classification and the Google OAuth client.

* :mod:`.client` — :class:`CloudCodeClient` (streaming and unary generation, countTokens, bootstrap RPCs);
* :mod:`.errors` — :class:`UpstreamError` and the classification into :class:`antigravityd.outcomes.Failure`;
* :mod:`.sse` — the incremental event-stream decoder; :mod:`.durations` — retry-hint and timestamp parsers;
* :mod:`.bootstrap` — parsing of loadCodeAssist / onboardUser / fetchAvailableModels answers;
* :mod:`.oauth` — :class:`OAuthClient` (refresh, code exchange, userinfo, consent URL).
"""
