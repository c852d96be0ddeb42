import collections

from antigravityd.translate.context import TranslateContext, random_id
from antigravityd.translate.envelope import IDENTITY_PROMPT, build_envelope, system_instruction
from antigravityd.translate.models import resolve_model

CTX = TranslateContext(request_id="agent-1", session_id="sid-0123456789abcdef", project="proj-1")


def request():
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "systemInstruction": {"role": "user", "parts": [{"text": "Be terse."}]},
            "tools": [{"functionDeclarations": [{"name": "f"}]}], "toolConfig": {"functionCallingConfig": {}},
            "generationConfig": {"thinkingConfig": {"includeThoughts": True}, "responseMimeType": "application/json"}}


def test_agent_envelope_with_identity_first():
    inner = request()
    env = build_envelope(inner, resolve_model("gemini-3-flash", {}), CTX)
    assert list(env) == ["project", "model", "userAgent", "requestType", "requestId", "request"]
    assert env["project"] == "proj-1" and env["model"] == "gemini-3-flash" and env["userAgent"] == "antigravity"
    assert env["requestType"] == "agent" and env["requestId"] == "agent-1"
    assert env["request"]["systemInstruction"]["parts"] == [{"text": IDENTITY_PROMPT}, {"text": "Be terse."}]
    assert env["request"]["sessionId"] == "sid-0123456789abcdef"
    assert "sessionId" not in inner and inner["systemInstruction"]["parts"] == [{"text": "Be terse."}]


def test_identity_not_duplicated_and_can_be_disabled():
    inner = request()
    inner["systemInstruction"] = {"parts": [{"text": "You are Antigravity, already."}]}
    env = build_envelope(inner, resolve_model("gemini-3-flash", {}), CTX)
    assert env["request"]["systemInstruction"] == {"role": "user", "parts": [{"text": "You are Antigravity, already."}]}
    off = TranslateContext(request_id="r", session_id="", inject_identity=False)
    env = build_envelope({"contents": []}, resolve_model("gemini-3-flash", {}), off)
    assert "systemInstruction" not in env["request"] and "sessionId" not in env["request"] and "project" not in env
    assert build_envelope({"contents": []}, resolve_model("gemini-3-flash", {}), CTX)["request"][
        "systemInstruction"]["parts"] == [{"text": IDENTITY_PROMPT}]


def test_image_envelope_has_no_system_tools_or_thinking():
    env = build_envelope(request(), resolve_model("gemini-3-pro-image-2k-16x9", {}), CTX)
    inner = env["request"]
    assert env["requestType"] == "image_gen" and env["model"] == "gemini-3.1-flash-image"
    assert "systemInstruction" not in inner and "tools" not in inner and "toolConfig" not in inner
    assert inner["generationConfig"] == {"candidateCount": 1, "imageConfig": {"aspectRatio": "16:9",
                                                                              "imageSize": "2K"}}


def test_web_search_envelope():
    env = build_envelope(request(), resolve_model("gemini-3-flash-online", {}), CTX)
    assert env["requestType"] == "web_search"
    assert env["request"]["tools"] == [{"googleSearch": {}}] and "toolConfig" not in env["request"]
    by_tool = build_envelope({"contents": [], "tools": [{"googleSearch": {}}]}, resolve_model("gemini-3-flash", {}),
                             CTX)
    assert by_tool["requestType"] == "web_search"


def test_system_instruction_helper_and_ids():
    assert system_instruction(["a", "", "  ", "b"]) == {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}
    assert system_instruction([]) is None
    ident = random_id("call_")
    assert ident.startswith("call_") and len(ident) == 29 and ident[5:].isalnum()


def test_random_ids_use_the_whole_alphabet_evenly():
    ids = [random_id("msg_01", 22) for _ in range(3000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 28 and i[6:].isascii() and i[6:].isalnum() for i in ids)
    counts = collections.Counter("".join(i[6:] for i in ids))
    assert len(counts) == 62
    expected = 3000 * 22 / 62  # ~1065 each (sd ~33); a byte taken modulo 62 would give 8 characters +20 %
    assert all(abs(n - expected) < expected * 0.15 for n in counts.values())
