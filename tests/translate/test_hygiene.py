import itertools

from hypothesis import given
from hypothesis import strategies as st

from antigravityd.translate.hygiene import normalize_contents

SIG = "E" + "s" * 60


def fc(name, call_id=None):
    return {"functionCall": {"name": name, "args": {}} | ({"id": call_id} if call_id else {})}


def fr(name, call_id=None):
    return {"functionResponse": {"name": name, "response": {"result": "ok"}} | ({"id": call_id} if call_id else {})}


def test_empty_parts_and_contents_are_dropped_and_same_roles_merge():
    contents = [
        {"role": "user", "parts": [{"text": "a"}, {"text": ""}, {"text": "  "}]},
        {"role": "user", "parts": [{"text": "b"}]},
        {"role": "model", "parts": []},
        {"role": "model", "parts": [{"text": "c"}]},
    ]
    assert normalize_contents(contents, "gemini") == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "c"}]},
    ]


def test_first_turn_is_user_and_claude_gets_no_prefill():
    out = normalize_contents([{"role": "model", "parts": [{"text": "hello"}]}], "claude")
    assert [c["role"] for c in out] == ["user", "model", "user"]
    gemini = normalize_contents([{"role": "user", "parts": [{"text": "q"}]},
                                 {"role": "model", "parts": [{"text": "prefill"}]}], "gemini")
    assert [c["role"] for c in gemini] == ["user", "model"]


def test_signature_carrier_moves_onto_previous_part_for_gemini_only():
    contents = [{"role": "user", "parts": [{"text": "q"}]},
                {"role": "model", "parts": [{"text": "answer"}, {"text": "", "thoughtSignature": SIG}]}]
    assert normalize_contents(contents, "gemini")[1]["parts"] == [{"text": "answer", "thoughtSignature": SIG}]
    assert normalize_contents(contents, "claude")[1]["parts"] == [{"text": "answer"}]


def test_function_responses_follow_call_order_by_id_then_name():
    contents = [
        {"role": "user", "parts": [{"text": "q"}]},
        {"role": "model", "parts": [fc("a", "1"), fc("b", "2"), fc("a", "3")]},
        {"role": "user", "parts": [{"text": "also this"}, fr("a", "3"), fr("b", "2")]},
        {"role": "user", "parts": [fr("a", "1")]},
        {"role": "model", "parts": [fc("x"), fc("y")]},
        {"role": "user", "parts": [fr("y"), fr("x")]},
    ]
    out = normalize_contents(contents, "gemini")
    assert [p.get("functionResponse", {}).get("id") for p in out[2]["parts"]] == ["1", "2", "3", None]
    assert [p["functionResponse"]["name"] for p in out[4]["parts"]] == ["x", "y"]


texts = st.sampled_from(["", " ", "a", "b"])
parts = st.one_of(st.builds(lambda t: {"text": t}, texts), st.builds(fc, st.sampled_from(["f", "g"])),
                  st.builds(fr, st.sampled_from(["f", "g"])))


@given(st.lists(st.builds(lambda r, p: {"role": r, "parts": p}, st.sampled_from(["user", "model"]),
                          st.lists(parts, max_size=4)), max_size=6), st.sampled_from(["gemini", "claude"]))
def test_normalized_contents_alternate_and_keep_every_non_empty_part(contents, family):
    out = normalize_contents(contents, family)
    assert all(c["parts"] for c in out)
    assert all(a["role"] != b["role"] for a, b in itertools.pairwise(out))
    if out:
        assert out[0]["role"] == "user"
        if family == "claude":
            assert out[-1]["role"] == "user"
    def kept(cs):
        return sorted(repr(p) for c in cs for p in c["parts"] if p.get("text", "x").strip()
                      and p.get("text") not in (".", "Continue."))
    assert kept(out) == kept(contents)
    assert normalize_contents(out, family) == out


def test_close_tool_loops_answers_missing_calls_in_order():
    from antigravityd.translate.hygiene import close_tool_loops

    contents = [
        {"role": "user", "parts": [{"text": "q"}]},
        {"role": "model", "parts": [fc("a", "1"), fc("b", "2")]},
        {"role": "user", "parts": [fr("b", "2"), {"text": "why did you stop?"}]},
        {"role": "model", "parts": [fc("c")]},
    ]
    out = close_tool_loops(contents)
    assert [p.get("functionResponse", {}).get("id") for p in out[2]["parts"]] == ["1", "2", None]
    assert out[2]["parts"][0]["functionResponse"]["response"]["result"].startswith("Tool execution interrupted")
    assert out[3] == contents[3]  # a trailing call turn is left to the caller
    assert close_tool_loops(out) == out
