import hashlib
import json
import re

from hypothesis import given
from hypothesis import strategies as st

from antigravityd.translate.session import (
    anthropic_session_id,
    gemini_session_id,
    openai_session_id,
    responses_session_id,
    session_id_from_texts,
)
from tests.translate.captures import bodies, gemini_cli_stream_body

SID = re.compile(r"sid-[0-9a-f]{16}")


def expected(text):
    return "sid-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def test_first_substantial_user_text_wins():
    messages = [
        {"role": "system", "content": "You are a long system prompt that is not user text"},
        {"role": "user", "content": "hi"},
        {"role": "user", "content": "<system-reminder>the same for everyone, long enough</system-reminder>"},
        {"role": "user", "content": [{"type": "text", "text": "  Please refactor the parser module  "}]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "and another long message here"},
    ]
    assert openai_session_id({"messages": messages}) == expected("Please refactor the parser module")


def test_same_conversation_keeps_its_id_across_turns():
    first = {"messages": [{"role": "user", "content": "Explain the borrow checker please"}]}
    later = {"messages": [*first["messages"], {"role": "assistant", "content": "Sure"},
                          {"role": "user", "content": "More detail about lifetimes"}]}
    assert openai_session_id(first) == openai_session_id(later)


def test_fallbacks_short_texts_then_first_message():
    short = openai_session_id({"messages": [{"role": "user", "content": "hi"}]})
    assert short == expected("hi")
    image_only = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}
    assert SID.fullmatch(openai_session_id(image_only))
    assert openai_session_id(image_only) != openai_session_id({"messages": []})


def test_gemini_dialect_and_capture():
    body = gemini_cli_stream_body()
    sid = gemini_session_id(body)
    assert sid == expected(body["contents"][0]["parts"][0]["text"].strip())
    thoughts_ignored = {"contents": [{"role": "model", "parts": [{"text": "model text, long enough"}]},
                                     {"parts": [{"text": "thinking text that is long", "thought": True},
                                                {"text": "the real user question"}]}]}
    assert gemini_session_id(thoughts_ignored) == expected("the real user question")


def test_anthropic_metadata_session():
    claude_code = bodies("claude-code.json", "/v1/messages")[0]
    user_id = claude_code["metadata"]["user_id"]
    session = json.loads(user_id)["session_id"]
    assert anthropic_session_id(claude_code) == expected(session)
    legacy = {"metadata": {"user_id": "user_abc_account__session_1234"}, "messages": []}
    assert anthropic_session_id(legacy) == expected("user_abc_account__session_1234")
    plain_user = {"metadata": {"user_id": "alice"},
                  "messages": [{"role": "user", "content": "Tell me about compilers"}]}
    assert anthropic_session_id(plain_user) == expected("Tell me about compilers")


def test_responses_input_forms():
    assert responses_session_id({"input": "What is the meaning of this?"}) == expected("What is the meaning of this?")
    items = {"input": [{"role": "developer", "content": "system stuff, quite long"},
                       {"type": "message", "role": "user",
                        "content": [{"type": "input_text", "text": "Fix the failing test now"}]}]}
    assert responses_session_id(items) == expected("Fix the failing test now")


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(
                        st.sampled_from(["messages", "contents", "input", "role", "content", "parts", "text",
                                         "metadata", "user_id", "type"]), c, max_size=4), max_leaves=20))
def test_never_raises_and_always_well_formed(body):
    for derive in (openai_session_id, gemini_session_id, anthropic_session_id, responses_session_id):
        assert SID.fullmatch(derive(body))
    assert SID.fullmatch(session_id_from_texts([], body))


def test_responses_prompt_cache_key_names_the_conversation():
    body = bodies("codex-cli.json", "/v1/responses")[0]
    assert responses_session_id(body) == expected(body["prompt_cache_key"])
    assert responses_session_id({**body, "prompt_cache_key": ""}) != responses_session_id(body)
