"""Upstream stream → OpenAI chat.completion chunks and the non-stream completion (upstream-protocol §8.2)."""

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from antigravityd.translate.openai_chat_stream import ChatStreamTranslator, openai_finish_reason
from antigravityd.translate.signature_cache import MemorySignatureCache
from antigravityd.translate.signatures import call_key, content_key
from tests.support.openai_stream_check import check_chat_stream
from tests.translate.upstream_script import (
    CLAUDE_SIG,
    SIG,
    USAGE,
    call,
    events,
    image,
    scripts,
    text,
    thought,
    wrap,
)


def ids():
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}{next(counter):024d}"


def translator(include_usage=True, **kw):
    return ChatStreamTranslator("gemini-3-flash", "chatcmpl-7f3a", 1755850000, include_usage, new_id=ids(),
                                session_id="sid-1", **kw)


def run(evts, *, truncated=False, include_usage=True, **kw):
    t = translator(include_usage, **kw)
    chunks = [c for e in evts for c in t.feed(e)]
    chunks += t.finish(truncated=truncated)
    return t, chunks


def test_spec_example_tool_call_stream():
    upstream = [
        wrap([thought("Need weather → call get_weather.")], usage={"promptTokenCount": 88, "totalTokenCount": 88}),
        wrap([call("get_weather", {"city": "Paris"}, signature=SIG)], finish="STOP", usage=USAGE),
    ]
    t, chunks = run(upstream)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None,
                                                "reasoning_content": "Need weather → call get_weather."}
    assert chunks[1]["choices"][0]["delta"] == {"tool_calls": [{
        "index": 0, "id": "call_000000000000000000000001", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]}
    assert chunks[2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    assert chunks[3] == {"id": "chatcmpl-7f3a", "object": "chat.completion.chunk", "created": 1755850000,
                         "model": "gemini-3-flash", "choices": [], "usage": {
                             "prompt_tokens": 88, "completion_tokens": 55, "total_tokens": 143,
                             "prompt_tokens_details": {"cached_tokens": 0},
                             "completion_tokens_details": {"reasoning_tokens": 40}}}
    assert len(chunks) == 4
    check_chat_stream(chunks, include_usage=True)
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    completion = t.completion()
    ChatCompletion.model_validate(completion)
    assert completion["choices"][0] == {"index": 0, "logprobs": None, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "reasoning_content": "Need weather → call get_weather.",
        "tool_calls": [{"id": "call_000000000000000000000001", "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]}}
    kinds = {(s.kind, s.key) for s in t.signatures}
    assert ("tool_call", "call_000000000000000000000001") in kinds
    assert ("call", call_key("get_weather", {"city": "Paris"})) in kinds and ("session", "sid-1") in kinds


def test_parallel_calls_get_distinct_indices_and_upstream_ids_are_kept():
    upstream = [wrap([call("a", {}, "toolu_1"), call("b", {"x": 1}, "toolu_2")]),
                wrap([call("c", {})], finish="STOP", usage=USAGE)]
    _, chunks = run(upstream)
    summary = check_chat_stream(chunks, include_usage=True)
    calls = summary.choices[0].tool_calls
    assert [c["id"] for c in calls] == ["toolu_1", "toolu_2", "call_000000000000000000000001"]
    deltas = [tc for ch in chunks for c in ch["choices"] for tc in c["delta"].get("tool_calls", [])]
    assert [d["index"] for d in deltas] == [0, 1, 2]


def test_plain_text_stream_without_usage():
    t, chunks = run(events([thought("Computing."), text("2 + 2 = 4."), text("", signature=SIG)]),
                    include_usage=False)
    summary = check_chat_stream(chunks, include_usage=False)
    assert summary.choices[0].content == "2 + 2 = 4." and summary.choices[0].finish_reason == "stop"
    assert all("usage" not in c for c in chunks)
    assert t.completion()["choices"][0]["message"]["content"] == "2 + 2 = 4."
    assert t.completion()["usage"]["total_tokens"] == 143  # non-stream bodies always carry usage


@pytest.mark.parametrize(("upstream", "calls", "truncated", "expected"), [
    ("STOP", False, False, "stop"), ("STOP", True, False, "tool_calls"), ("MAX_TOKENS", False, False, "length"),
    ("MAX_TOKENS", True, False, "length"), ("SAFETY", False, False, "content_filter"),
    ("RECITATION", False, False, "content_filter"), ("PROHIBITED_CONTENT", False, False, "content_filter"),
    ("MALFORMED_FUNCTION_CALL", False, False, "stop"), ("OTHER", False, False, "stop"),
    (None, True, True, "length"), (None, False, True, "length"),
])
def test_finish_reason_mapping(upstream, calls, truncated, expected):
    assert openai_finish_reason(upstream, made_calls=calls, truncated=truncated) == expected


def test_truncated_stream_ends_with_length_and_never_half_a_call():
    upstream = events([text("partial answer"), call("f", {"a": 1})], finish=None)
    t, chunks = run(upstream, truncated=True)
    summary = check_chat_stream(chunks, include_usage=True)
    assert summary.choices[0].finish_reason == "length"
    assert [json.loads(c["function"]["arguments"]) for c in summary.choices[0].tool_calls] == [{"a": 1}]
    assert t.truncated and t.finish_reason == "length"


def test_empty_stream_still_yields_a_valid_response():
    t, chunks = run([], truncated=True)
    summary = check_chat_stream(chunks, include_usage=True)
    assert summary.choices[0].finish_reason == "length" and summary.choices[0].content == ""
    assert t.completion()["choices"][0]["message"] == {"role": "assistant", "content": ""}


def test_blocked_prompt_is_a_content_filter_finish():
    _, chunks = run([{"response": {"promptFeedback": {"blockReason": "SAFETY"},
                                   "usageMetadata": {"promptTokenCount": 5}}}])
    assert check_chat_stream(chunks, include_usage=True).choices[0].finish_reason == "content_filter"


def test_images_become_markdown_data_uris():
    _, chunks = run(events([text("Here:"), image("iVBORw0KGgoAAAANSUhEUg", "image/png")]))
    content = check_chat_stream(chunks, include_usage=True).choices[0].content
    assert content == "Here:![image](data:image/png;base64,iVBORw0KGgoAAAANSUhEUg)"


def test_events_after_finish_and_after_close_are_ignored():
    t = translator()
    first = t.feed(wrap([text("done")], finish="STOP", usage=USAGE))
    assert t.feed(wrap([text("late")])) == []
    closing = t.finish(truncated=False)
    assert t.feed(wrap([text("later")])) == [] and t.finish(truncated=True) == []
    summary = check_chat_stream(first + closing, include_usage=True)
    assert summary.choices[0].content == "done"


def test_multiple_candidates_become_choices():
    upstream = [wrap([text("a")], index=0), wrap([text("b")], index=1),
                wrap([], finish="STOP", index=1), wrap([], finish="STOP", index=0, usage=USAGE)]
    t, chunks = run(upstream)
    summary = check_chat_stream(chunks, include_usage=True)
    assert {i: c.content for i, c in summary.choices.items()} == {0: "a", 1: "b"}
    assert [c["index"] for c in t.completion()["choices"]] == [0, 1]


def test_completion_requires_finish():
    with pytest.raises(RuntimeError):
        translator().completion()


def test_claude_reasoning_signature_is_recorded_by_content():
    upstream = [wrap([thought("The user wants the file list.")]),
                wrap([thought("", signature=CLAUDE_SIG)]),
                wrap([text("I'll list the directory.")]),
                wrap([call("bash", {"command": "ls /tmp"}, "toolu_vrtx_01Pq")], finish="STOP", usage=USAGE)]
    t, _ = run(upstream, family="claude")
    cache = MemorySignatureCache(lambda: 0.0)
    cache.remember_all(t.signatures)
    assert cache.get("content", content_key("The user wants the file list."), "claude") == CLAUDE_SIG
    assert cache.family_of(CLAUDE_SIG) == "claude"


def test_openai_sdk_assembles_the_same_completion():
    upstream = events([thought("plan the calls"), text("Sure, "), text("checking both."),
                       call("get_weather", {"city": "Paris"}, signature=SIG), call("get_weather", {"city": "Rome"})],
                      [3, 2, 5])
    t, chunks = run(upstream)
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    final = state.get_final_completion()
    ours = t.completion()["choices"][0]
    assert final.choices[0].message.content == ours["message"]["content"]
    assert [c.function.arguments for c in final.choices[0].message.tool_calls] == [
        c["function"]["arguments"] for c in ours["message"]["tool_calls"]]
    assert final.choices[0].finish_reason == "tool_calls"


@settings(max_examples=200, deadline=None)
@given(scripts, st.lists(st.integers(0, 50), max_size=8), st.booleans(), st.data())
def test_any_chunking_gives_the_same_result_as_the_completion(script, cuts, truncated, data):
    upstream = events(script, cuts, finish=None if truncated else "STOP")
    t, chunks = run(upstream, truncated=truncated)
    summary = check_chat_stream(chunks, include_usage=True)
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    ChatCompletion.model_validate(t.completion())
    choice = summary.choices[0]
    completion = t.completion()["choices"][0]
    message = completion["message"]
    assert choice.content == (message["content"] or "")
    assert choice.reasoning == message.get("reasoning_content", "")
    assert choice.tool_calls == message.get("tool_calls", [])
    assert choice.finish_reason == completion["finish_reason"]
    # every upstream call is one complete tool call, in order, with indices 0..n-1
    upstream_calls = [p["functionCall"] for p in script if "functionCall" in p]
    assert [c["function"]["name"] for c in choice.tool_calls] == [c["name"] for c in upstream_calls]
    assert [json.loads(c["function"]["arguments"]) for c in choice.tool_calls] == [c["args"] for c in upstream_calls]
    assert all(c["id"] for c in choice.tool_calls)
    expected_text = "".join(p["text"] for p in script if "text" in p and not p.get("thought"))
    images = "".join(f"![image](data:{p['inlineData']['mimeType']};base64,{p['inlineData']['data']})"
                     for p in script if "inlineData" in p)
    assert len(choice.content) == len(expected_text) + len(images)
    # the same script fed as one non-stream body gives the same completion
    single = translator()
    single.feed(wrap(script, finish=None if truncated else "STOP", usage=USAGE))
    single.finish(truncated=truncated)
    one = single.completion()["choices"][0]["message"]
    assert one.get("content") == message.get("content") and one.get("reasoning_content") == message.get(
        "reasoning_content")
    assert [c["function"] for c in one.get("tool_calls", [])] == [c["function"] for c in message.get("tool_calls", [])]


def test_duplicate_upstream_call_ids_are_replaced():
    _, chunks = run([wrap([call("a", {}, "toolu_1"), call("b", {}, "toolu_1")], finish="STOP", usage=USAGE)])
    ids_seen = [c["id"] for c in check_chat_stream(chunks, include_usage=True).choices[0].tool_calls]
    assert ids_seen[0] == "toolu_1" and ids_seen[1] != "toolu_1"
