"""Token counting: the upstream countTokens body for a translated request, and the local estimate."""

from antigravityd.translate.context import TranslateContext
from antigravityd.translate.count_tokens import count_tokens_body, estimate_tokens, read_total_tokens
from antigravityd.translate.gemini_native import gemini_request_to_upstream
from antigravityd.translate.models import resolve_model
from antigravityd.translate.openai_chat import chat_request_to_upstream
from tests.translate.captures import gemini_cli_stream_body

CTX = TranslateContext(request_id="r", session_id="s")


def test_count_tokens_body_keeps_only_what_is_counted():
    request = gemini_request_to_upstream(gemini_cli_stream_body(), resolve_model("gemini-3.8-flash", {}), CTX)
    counted = count_tokens_body(request)
    assert set(counted) == {"request"} and set(counted["request"]) == {"contents", "systemInstruction", "tools"}
    assert counted["request"]["contents"] == request["contents"]
    chat = chat_request_to_upstream({"messages": [{"role": "user", "content": "hi"}]},
                                    resolve_model("gemini-3-flash", {}), CTX)
    assert count_tokens_body(chat) == {"request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}


def test_estimate():
    request = gemini_request_to_upstream(gemini_cli_stream_body(), resolve_model("gemini-3.8-flash", {}), CTX)
    assert 1000 < estimate_tokens(request) < 100_000
    assert estimate_tokens({"contents": [{"role": "user", "parts": [{"text": "abcd" * 10},
                                                                    {"inlineData": {"data": "x"}}]}]}) == 10 + 258
    assert estimate_tokens({}) == 0


def test_read_total_tokens():
    assert read_total_tokens({"totalTokens": 12}) == 12
    assert read_total_tokens({"response": {"totalTokens": 7}}) == 7
    assert read_total_tokens({"totalTokens": "x"}) is None and read_total_tokens(None) is None
    assert read_total_tokens({"totalTokens": True}) is None
