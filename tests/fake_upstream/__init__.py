"""A faithful fake of Google's Cloud Code ``v1internal`` API and Google OAuth, for tests, demos and benchmarks.

It follows ``reference/upstream-protocol.md`` (§1–§6, §9, §12) and is as strict as the real service; every rule
can be switched off per test (``fake.strict``). It has its own tiny trio + h11 server and shares no code with
antigravityd, so it cannot share our bugs.

In-process use::

    async with run_fake_upstream() as fake:
        acct = fake.add_account("alice@example.com")   # acct.refresh_token, acct.access_token, acct.project
        fake.base_url        # http://127.0.0.1:PORT/v1internal   (put it in upstream.base_urls)
        fake.token_url, fake.userinfo_url, fake.auth_url, fake.client_id, fake.client_secret
        fake.inject("rate_limit", account="alice@example.com", times=2)
        fake.stats.count(email="alice@example.com", rpc="streamGenerateContent")
        await fake.wait_for_disconnects(1)             # the client closed a connection mid-response

Standalone: ``python -m tests.fake_upstream --port 9000 --accounts 3`` prints one JSON line (URLs, client id/secret,
accounts with refresh tokens) and serves until SIGTERM; ``/_fake/…`` (see ``control.py``) drives it over HTTP.

Directive language — read from the LAST text part of the LAST user content, removed before echoing:

=================================  =================================================================================
``[[call:NAME {json}]]``           reply with a functionCall (args = the JSON object, default ``{}``); several
                                   directives → parallel functionCall parts in one event. Claude models give each
                                   call an id ``toolu_vrtx_01…``; Gemini-3 puts a signature on the first call.
``[[say:TEXT]]``                   reply with exactly TEXT (up to the closing ``]]``).
``[[think:TEXT]]``                 thought text for models that think (instead of the default).
``[[image]]``                      add an inlineData PNG part (image models always add one).
``[[chunks:N]]``                   the visible text arrives in exactly N events (padded with " lorem ipsum" if short).
``[[delay_ms:X]]``                 wait X ms between events.
``[[first_byte_ms:X]]``            wait X ms before the response starts.
``[[finish:REASON]]``              finishReason of the last event (e.g. MAX_TOKENS, SAFETY).
=================================  =================================================================================

Without directives the reply is, in order of precedence: the version-gate text (``strict.min_client_version``),
schema-valid JSON when ``generationConfig.responseMimeType == "application/json"`` (from ``responseJsonSchema`` or
``responseSchema``; ``{"answer": "Echo: …"}`` without a schema), ``"Tool results: NAME -> RESULT; …"`` when the
last user content holds functionResponse parts (RESULT is ``response.result`` when that is the only key, else the
compact JSON), ``"Here is the image."`` + an image for image models, else ``"Echo: <text>"`` where <text> is the
last user text without directives, whitespace collapsed, cut to 80 characters (``…``); ``(no text)`` when empty.
``candidateCount`` N>1 gives N candidates, candidate k (k≥2) with `` (candidate k)`` appended. Stop sequences
cut the text; a reply longer than ``maxOutputTokens`` (4 chars per token) is truncated with ``MAX_TOKENS``.

Thinking: Gemini models emit ``{"text", "thought": true}`` parts only with ``includeThoughts: true``; Gemini-3
ids always sign (first functionCall, else an empty-text signature-carrier part at the end, E-form signatures).
Claude models emit thought parts whenever thinking is enabled (``includeThoughts``, a budget > 0, or a
``*-thinking`` id), followed by an empty-text thought part carrying an R-form (double base64) signature
(``behaviour.claude_signature_position = "last_fragment"`` puts it on the last fragment instead).

Usage: ``promptTokenCount`` = chars/4 over all text, call arguments, tool results and tool declarations (+258 per
inline blob); the same estimate answers ``countTokens`` and drives "prompt too long". Every event carries
cumulative usage; the last carries ``finishReason`` and the final usage. SSE framing is ``data: <json>\\n\\n``.
"""

from .app import FakeUpstream, run_fake_upstream
from .faults import Fault, FaultKind
from .models import DEFAULT_MODELS, ModelSpec, gemini_model
from .settings import Behaviour, Strictness
from .state import AUTO, Account, FakeState

__all__ = [
    "AUTO", "DEFAULT_MODELS", "Account", "Behaviour", "FakeState", "FakeUpstream", "Fault", "FaultKind", "ModelSpec",
    "Strictness", "gemini_model", "run_fake_upstream",
]
