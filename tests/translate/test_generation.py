import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.translate.errors import ClientError
from antigravityd.translate.generation import (
    ThinkingRequest,
    generation_config,
    number_param,
    output_limit,
    stop_sequences,
    thinking_config,
)
from antigravityd.translate.models import model_caps

FLASH = model_caps("gemini-3-flash")
PRO = model_caps("gemini-3.1-pro-high")
G25 = model_caps("gemini-2.5-flash")
OPUS = model_caps("claude-opus-4-6-thinking")
SONNET = model_caps("claude-sonnet-4-6")
OSS = model_caps("gpt-oss-120b-medium")


def test_levels_only_for_gemini3_when_asked_for_a_level():
    assert thinking_config(ThinkingRequest.from_effort("low"), FLASH) == {"includeThoughts": True,
                                                                         "thinkingLevel": "low"}
    assert thinking_config(ThinkingRequest.from_effort("minimal"), PRO)["thinkingLevel"] == "low"
    assert thinking_config(ThinkingRequest.from_effort("xhigh"), PRO)["thinkingLevel"] == "high"
    assert thinking_config(ThinkingRequest.from_effort("HIGH"), FLASH)["thinkingLevel"] == "high"
    # a budget stays a budget, clamped to the model's range
    assert thinking_config(ThinkingRequest.from_budget(100_000), FLASH) == {"includeThoughts": True,
                                                                            "thinkingBudget": 24_576}
    # effort on a budget-only model goes through the effort table
    assert thinking_config(ThinkingRequest.from_effort("medium"), G25)["thinkingBudget"] == 8192


def test_off_and_default():
    assert thinking_config(ThinkingRequest.from_effort("none"), FLASH) == {"includeThoughts": False,
                                                                          "thinkingLevel": "minimal"}
    assert thinking_config(ThinkingRequest.from_budget(0), G25) == {"includeThoughts": False, "thinkingBudget": 0}
    assert thinking_config(ThinkingRequest(), FLASH) == {"includeThoughts": True}
    assert thinking_config(ThinkingRequest.from_budget(-1), FLASH) == {"includeThoughts": True}  # never -1
    assert thinking_config(ThinkingRequest(), OSS) is None
    assert thinking_config(ThinkingRequest.from_effort("bogus"), FLASH) == {"includeThoughts": True}


def test_claude_thinking():
    assert thinking_config(ThinkingRequest(), OPUS) == {"includeThoughts": True, "thinkingBudget": 16_000}
    assert thinking_config(ThinkingRequest(), SONNET) is None
    assert thinking_config(ThinkingRequest.from_budget(500), SONNET)["thinkingBudget"] == 1024
    assert thinking_config(ThinkingRequest.from_effort("high"), SONNET)["thinkingBudget"] == 24_576
    assert thinking_config(ThinkingRequest.from_effort("none"), OPUS) is None
    assert thinking_config(ThinkingRequest(include_thoughts=False), OPUS)["includeThoughts"] is True


def test_output_limit_rules():
    assert output_limit(None, None, FLASH) == (None, None)
    assert output_limit(1_000_000, None, FLASH) == (65_535, None)
    assert output_limit(None, None, OPUS)[0] == 64_000
    think = {"includeThoughts": True, "thinkingBudget": 16_000}
    assert output_limit(1000, think, OPUS) == (24_192, think)
    assert output_limit(20_000, think, OPUS) == (20_000, think)
    tight = model_caps("gemini-3-flash", {"maxOutputTokens": 10_000})
    limit, adjusted = output_limit(5000, {"thinkingBudget": 9000}, tight)
    assert limit == 10_000 and adjusted["thinkingBudget"] < limit


@given(st.integers(1, 2_000_000) | st.none(), st.integers(-5, 200_000),
       st.sampled_from(["gemini-3-flash", "gemini-3.1-pro-high", "gemini-2.5-flash", "claude-opus-4-6-thinking",
                        "claude-sonnet-4-6", "gpt-oss-120b-medium", "gemini-3.1-flash-image"]))
def test_max_output_always_fits_the_model_and_exceeds_the_budget(max_tokens, budget, model):
    caps = model_caps(model)
    config = generation_config(caps, thinking=ThinkingRequest.from_budget(budget), max_tokens=max_tokens)
    limit = config.get("maxOutputTokens")
    assert limit is None or 1 <= limit <= caps.max_output
    spent = config.get("thinkingConfig", {}).get("thinkingBudget")
    if limit is not None and spent:
        assert limit > spent
    assert spent is None or spent >= 0


def test_stop_sequences():
    assert stop_sequences("END", "stop") == ["END"]
    assert stop_sequences(["a", "b", "a", "", "c", "d", "e", "f"], "stop") == ["a", "b", "c", "d", "e"]
    assert stop_sequences([], "stop") is None and stop_sequences(None, "stop") is None
    with pytest.raises(ClientError) as info:
        stop_sequences(["a", 1], "stop")
    assert info.value.param == "stop"


def test_number_param():
    assert number_param({"t": 0.5}, "t", low=0, high=2) == 0.5
    assert number_param({}, "t", low=0, high=2) is None
    for bad in (3, "1", True, float("nan")):
        with pytest.raises(ClientError):
            number_param({"t": bad}, "t", low=0, high=2)
    with pytest.raises(ClientError):
        number_param({"n": 1.5}, "n", low=1, high=8, integer=True)


def test_generation_config_sampling_fields():
    config = generation_config(FLASH, thinking=ThinkingRequest(), temperature=0.2, top_p=0.0, top_k=40,
                               stop=["x"], candidate_count=2)
    assert config == {"temperature": 0.2, "topK": 40, "candidateCount": 2, "stopSequences": ["x"],
                      "thinkingConfig": {"includeThoughts": True}}
