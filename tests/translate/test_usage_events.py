from hypothesis import given
from hypothesis import strategies as st

from antigravityd.translate.upstream_events import is_meaningful, read_chunk, unwrap
from antigravityd.translate.usage import Usage


def test_usage_keeps_latest_value_per_field():
    usage = Usage().update({"promptTokenCount": 12, "totalTokenCount": 12, "thoughtsTokenCount": 58})
    usage = usage.update({"promptTokenCount": 12, "candidatesTokenCount": 7, "totalTokenCount": 77})
    usage = usage.update(None).update({"bogus": 1, "candidatesTokenCount": -3})
    assert (usage.prompt, usage.candidates, usage.thoughts, usage.total, usage.seen) == (12, 7, 58, 77, True)
    assert not Usage().update({}).seen


def test_usage_per_dialect():
    usage = Usage().update({"promptTokenCount": 100, "cachedContentTokenCount": 30, "candidatesTokenCount": 15,
                            "thoughtsTokenCount": 40, "totalTokenCount": 155})
    assert usage.openai() == {"prompt_tokens": 100, "completion_tokens": 55, "total_tokens": 155,
                              "prompt_tokens_details": {"cached_tokens": 30},
                              "completion_tokens_details": {"reasoning_tokens": 40}}
    assert usage.anthropic() == {"input_tokens": 70, "output_tokens": 55, "cache_read_input_tokens": 30,
                                 "cache_creation_input_tokens": 0}
    assert usage.responses()["output_tokens_details"] == {"reasoning_tokens": 40}
    assert usage.responses()["input_tokens_details"] == {"cached_tokens": 30, "cache_write_tokens": 0}
    assert usage.gemini() == {"promptTokenCount": 100, "candidatesTokenCount": 15, "totalTokenCount": 155,
                              "thoughtsTokenCount": 40, "cachedContentTokenCount": 30}


def test_read_chunk_parts():
    chunk = read_chunk({"response": {"candidates": [{"content": {"role": "model", "parts": [
        {"text": "think", "thought": True},
        {"text": "", "thoughtSignature": "S" * 60},
        {"functionCall": {"name": "f", "args": {"a": 1}, "id": "toolu_1"}, "thought_signature": "T" * 60},
        {"functionCall": {"args": {}}},
        {"inlineData": {"mimeType": "image/jpeg", "data": "AAAA"}},
        {"executableCode": {"code": "x"}},
        "junk",
    ]}, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 1}, "responseId": "r1",
        "modelVersion": "gemini-3-flash-a"}, "traceId": "t"})
    (cand,) = chunk.candidates
    assert [p.kind for p in cand.parts] == ["thought", "text", "call", "image", "other"]
    assert cand.parts[2].call_id == "toolu_1" and cand.parts[2].signature == "T" * 60
    assert cand.parts[3].mime == "image/jpeg" and cand.finish_reason == "STOP"
    assert chunk.usage == {"promptTokenCount": 1} and chunk.response_id == "r1"


def test_meaningful_events():
    assert not is_meaningful({"response": {"usageMetadata": {"promptTokenCount": 3}}})
    assert not is_meaningful({"response": {"candidates": [{"content": {"role": "model"}}]}})
    assert not is_meaningful({"response": {"candidates": [{"content": {"parts": [{"text": ""}]}}]}})
    assert is_meaningful({"response": {"candidates": [{"content": {"parts": [{"text": "x"}]}}]}})
    assert is_meaningful({"candidates": [{"finishReason": "STOP"}]})
    assert is_meaningful({"response": {"promptFeedback": {"blockReason": "SAFETY"}}})
    assert unwrap([1]) == {}


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=4),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(
                               st.sampled_from(["response", "candidates", "content", "parts", "text", "thought",
                                                "functionCall", "name", "args", "finishReason", "index",
                                                "usageMetadata", "inlineData", "data"]), c, max_size=4),
                           max_leaves=25)


@given(json_values)
def test_reading_junk_never_raises(obj):
    read_chunk(obj)
    is_meaningful(obj)
