"""Token counting, Claude Code side traffic, legacy completions."""

import pytest
from openai.types import Completion

from antigravityd.translate.anthropic import messages_request_to_upstream
from antigravityd.translate.anthropic_stream import AnthropicStreamTranslator
from antigravityd.translate.claude_code import WARMUP_REPLY, background_task, is_warmup
from antigravityd.translate.completions import (
    completion_chunk,
    completion_from_chat,
    completions_request_to_upstream,
)
from antigravityd.translate.context import TranslateContext
from antigravityd.translate.count_tokens import count_tokens_body, estimate_tokens, read_total_tokens
from antigravityd.translate.errors import ClientError
from antigravityd.translate.models import resolve_model
from antigravityd.translate.openai_chat_stream import ChatStreamTranslator
from tests.support.anthropic_stream_check import check_messages_stream
from tests.translate.captures import bodies
from tests.translate.upstream_script import USAGE, call, events, text, thought

CTX = TranslateContext(request_id="r", session_id="s")
OPUS = resolve_model("claude-opus-4-6-thinking", {})
FLASH = resolve_model("gemini-3-flash", {})


def test_count_tokens_body_and_estimate():
    body = bodies("claude-code.json", "/v1/messages")[0]
    request = messages_request_to_upstream(body, OPUS, CTX)
    counted = count_tokens_body(request)
    assert set(counted) == {"request"} and set(counted["request"]) == {"contents", "systemInstruction", "tools"}
    estimate = estimate_tokens(request)
    assert 1000 < estimate < 100_000
    assert estimate_tokens({"contents": [{"role": "user", "parts": [{"text": "abcd" * 10},
                                                                    {"inlineData": {"data": "x"}}]}]}) == 10 + 258
    assert read_total_tokens({"totalTokens": 12}) == 12
    assert read_total_tokens({"response": {"totalTokens": 7}}) == 7
    assert read_total_tokens({"totalTokens": "x"}) is None and read_total_tokens(None) is None


@pytest.mark.parametrize(("body", "expected"), [
    ({"messages": [{"role": "user", "content": "Warmup"}]}, True),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "Warmup"}]}]}, True),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "Warmup\nmore"}]}]}, True),
    ({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "is_error": True,
                                                 "content": "Warmup"}]}]}, True),
    ({"messages": [{"role": "user", "content": "Warmup the oven please"}]}, False),
    ({"messages": [{"role": "assistant", "content": "Warmup"}]}, False),
    ({"messages": []}, False), (None, False),
])
def test_warmup_detection(body, expected):
    assert is_warmup(body) is expected


def test_warmup_reply_renders_a_valid_anthropic_message():
    t = AnthropicStreamTranslator("claude-opus-4-8", "msg_1")
    out = t.feed(WARMUP_REPLY) + t.finish(truncated=False)
    assert check_messages_stream(out)["content"] == [{"type": "text", "text": "OK"}]


def test_background_tasks():
    def body(text):
        return {"messages": [{"role": "user", "content": text}]}
    assert background_task(body("Please write a 5-10 word title for this conversation")) == "title"
    assert background_task(body("Summarize this coding conversation in under 50 characters")) == "summary"
    assert background_task(body("You are a prompt suggestion generator.")) == "suggestion"
    assert background_task(body("Refactor the parser")) is None
    assert background_task(body("write a 5-10 word title " + "x" * 900)) is None


def test_completions_round_trip():
    request = completions_request_to_upstream({"prompt": ["Say hi"], "max_tokens": 5, "echo": False,
                                               "stop": "\n"}, FLASH, CTX)
    assert request["contents"] == [{"role": "user", "parts": [{"text": "Say hi"}]}]
    assert request["generationConfig"]["maxOutputTokens"] == 5
    with pytest.raises(ClientError):
        completions_request_to_upstream({"prompt": ["a", "b"]}, FLASH, CTX)
    with pytest.raises(ClientError):
        completions_request_to_upstream({"prompt": [1, 2, 3]}, FLASH, CTX)
    t = ChatStreamTranslator("gpt-3.5-turbo-instruct", "cmpl-1", 1, True)
    chunks = [c for e in events([thought("hm"), text("Hi "), text("there"), call("f", {})]) for c in t.feed(e)]
    chunks += t.finish(truncated=False)
    converted = [c for c in map(completion_chunk, chunks) if c is not None]
    assert "".join(ch["text"] for c in converted for ch in c["choices"]) == "Hi there"
    assert converted[-2]["choices"][0]["finish_reason"] == "stop" and converted[-1]["usage"]["total_tokens"] == 143
    for chunk in converted:  # (the SDK's type forbids the null finish_reason every real stream chunk has)
        if all(c["finish_reason"] for c in chunk["choices"]):
            Completion.model_validate(chunk)
    final = completion_from_chat(t.completion())
    Completion.model_validate(final)
    assert final["choices"][0]["text"] == "Hi there" and final["usage"]["prompt_tokens"] == USAGE["promptTokenCount"]
