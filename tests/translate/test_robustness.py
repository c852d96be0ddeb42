"""Every request translator raises nothing but ClientError, whatever one field of a valid body is replaced with.

A translator that raised anything else on client input would turn a client mistake into a 500.
"""

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from antigravityd.translate.context import TranslateContext
from antigravityd.translate.errors import ClientError
from antigravityd.translate.gemini_native import count_tokens_request, gemini_request_to_upstream
from antigravityd.translate.models import resolve_model
from antigravityd.translate.openai_chat import chat_request_to_upstream
from tests.translate.captures import bodies
from tests.translate.test_gemini_native import gemini_bodies
from tests.translate.test_openai_chat_request import chat_bodies

CTX = TranslateContext(request_id="r", session_id="s")
ROUTES = st.sampled_from([resolve_model(m, {}) for m in ("gemini-3-flash", "claude-opus-4-6-thinking",
                                                         "gemini-2.5-flash", "gpt-oss-120b-medium")])
junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | st.sampled_from(
        ["data:image/png;base64,@@", "file:///etc/passwd", "[undefined]", "user", "model", "text", "function"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(
        ["type", "role", "content", "text", "parts", "functionCall", "name", "args", "id", "input", "source"]),
        c, max_size=3),
    max_leaves=6)


def corrupt(body, data):
    """Replace one value somewhere in ``body`` (found by a random walk) with junk."""
    target = body
    while isinstance(target, dict | list) and target:
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        key = data.draw(st.sampled_from(keys))
        if not isinstance(target[key], dict | list) or not target[key] or data.draw(st.booleans()):
            target[key] = data.draw(junk)
            return body
        target = target[key]
    return body


TRANSLATORS = {
    "chat": (chat_bodies(), chat_request_to_upstream),
    "gemini": (gemini_bodies(), gemini_request_to_upstream),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(TRANSLATORS)), ROUTES, st.data())
def test_corrupted_bodies_raise_only_client_errors(dialect, route, data):
    strategy, translate = TRANSLATORS[dialect]
    body = corrupt(copy.deepcopy(data.draw(strategy)), data)  # (strategies share constants such as tool specs)
    try:
        translate(body, route, CTX)
    except ClientError:
        pass


CAPTURED = [("chat", b) for b in bodies("openai-python-sdk.json", "/v1/chat/completions")] + \
    [("gemini", b) for b in bodies("gemini-cli.json", "models/")] + \
    [("gemini", b) for b in bodies("google-genai-python-sdk.json", "models/")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(CAPTURED))), ROUTES, st.data())
def test_corrupted_captures_raise_only_client_errors(index, route, data):
    dialect, body = CAPTURED[index]
    body = corrupt(copy.deepcopy(body), data)
    try:
        TRANSLATORS[dialect][1](body, route, CTX)
        if dialect == "gemini":
            count_tokens_request(body, route)
    except ClientError:
        pass


@given(junk, ROUTES)
def test_arbitrary_bodies(body, route):
    for translate in [t for _, t in TRANSLATORS.values()]:
        try:
            translate(body, route, CTX)
        except ClientError:
            pass


upstream_junk = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=4),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(
        ["response", "candidates", "content", "parts", "text", "thought", "thoughtSignature", "functionCall",
         "name", "args", "id", "finishReason", "index", "usageMetadata", "promptTokenCount", "inlineData", "data",
         "mimeType", "promptFeedback", "blockReason", "responseId"]), c, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.lists(upstream_junk, max_size=5), st.booleans())
def test_stream_translators_survive_any_upstream_junk(evts, truncated):
    from antigravityd.translate.gemini_stream import GeminiStreamTranslator
    from antigravityd.translate.openai_chat_stream import ChatStreamTranslator

    translators = [ChatStreamTranslator("m", "c", 0, True), GeminiStreamTranslator("m")]
    for t in translators:
        for event in evts:
            t.feed(event)
        t.finish(truncated=truncated)
    translators[0].completion()
    translators[1].response()
