import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.translate.errors import ClientError, UnknownModel
from antigravityd.translate.models import (
    DEFAULT_MODELS,
    ImageConfig,
    image_variants,
    is_gemini3,
    is_listable,
    model_caps,
    model_family,
    resolve_model,
)


def test_exact_mapping_beats_everything():
    route = resolve_model("gpt-4o", {"gpt-4o": "claude-sonnet-4-6", "gpt-*": "gemini-3-flash"})
    assert (route.upstream, route.reason, route.requested) == ("claude-sonnet-4-6", "exact", "gpt-4o")


def test_most_specific_wildcard_wins_regardless_of_order():
    mappings = {"*": "gemini-3-flash", "gpt-*": "gemini-3.1-pro-low", "gpt-4o*": "claude-sonnet-4-6"}
    assert resolve_model("gpt-4o-mini", mappings).upstream == "claude-sonnet-4-6"
    assert resolve_model("gpt-4o-mini", mappings).reason == "wildcard:gpt-4o*"
    assert resolve_model("gpt-3.5-turbo", mappings).upstream == "gemini-3.1-pro-low"
    assert resolve_model("anything", mappings).reason == "wildcard:*"
    reversed_order = dict(reversed(list(mappings.items())))
    assert resolve_model("gpt-4o-mini", reversed_order).upstream == "claude-sonnet-4-6"


def test_wildcard_in_the_middle_and_regex_characters_are_literal():
    mappings = {"claude-*-thinking": "claude-opus-4-6-thinking", "a.b*": "gemini-3-flash"}
    assert resolve_model("claude-foo-thinking", mappings).reason == "wildcard:claude-*-thinking"
    assert resolve_model("a.bc", mappings).upstream == "gemini-3-flash"
    with pytest.raises(UnknownModel):
        resolve_model("axbc", mappings)


def test_builtin_alias_and_family_fallbacks():
    assert resolve_model("claude-opus-4-6", {}).upstream == "claude-opus-4-6-thinking"
    assert resolve_model("claude-opus-4-6", {}).reason == "alias"
    # Claude Code's dated names fall back to the family.
    route = resolve_model("claude-opus-4-8", {})
    assert (route.upstream, route.reason) == ("claude-opus-4-6-thinking", "family:claude-opus-")
    assert resolve_model("claude-sonnet-4-5-thinking", {}).upstream == "claude-sonnet-4-6-thinking"
    assert resolve_model("claude-sonnet-4-5-20250929", {}).upstream == "claude-sonnet-4-6"
    assert resolve_model("gpt-4o", {}).upstream == "gemini-3-flash"


def test_known_ids_pass_through_before_guesses():
    assert resolve_model("claude-opus-5-thinking", {}, known={"claude-opus-5-thinking"}).reason == "known"
    # a reported id beats a built-in alias for the same name
    assert resolve_model("gemini-3-pro-image", {}, known={"gemini-3-pro-image"}).upstream == "gemini-3-pro-image"
    assert resolve_model("gpt-oss-120b-medium", {}).reason == "known"


def test_passthrough_for_gemini_and_thinking_names():
    assert resolve_model("gemini-3.8-flash", {}).reason == "passthrough"
    assert resolve_model("some-thinking-model", {}).upstream == "some-thinking-model"


def test_unknown_model_lists_what_is_known():
    with pytest.raises(UnknownModel) as info:
        resolve_model("llama-3", {"my-alias": "gemini-3-flash", "x-*": "gemini-3-flash"}, known={"chat_20706"})
    err = info.value
    assert err.status == 400 and err.param == "model" and isinstance(err, ClientError)
    assert "my-alias" in err.message and "gemini-3-flash" in err.message
    assert "chat_20706" not in err.message and "x-*" not in err.message


@pytest.mark.parametrize("bad", [None, "", "   ", 5, ["gpt-4"]])
def test_missing_model_is_a_client_error(bad):
    with pytest.raises(ClientError):
        resolve_model(bad, {})


def test_online_suffix_requests_web_search():
    route = resolve_model("gemini-3-flash-online", {})
    assert (route.upstream, route.request_type) == ("gemini-3-flash", "web_search")
    forced = resolve_model("claude-sonnet-4-6-online", {}, web_search_model="gemini-2.5-flash")
    assert (forced.upstream, forced.request_type) == ("gemini-2.5-flash", "web_search")
    # a mapping for the full name is honoured as such
    assert resolve_model("foo-online", {"foo-online": "gemini-3-flash"}).request_type == "agent"


def test_image_suffixes_become_image_config():
    route = resolve_model("gemini-3-pro-image-4k-16x9", {})
    assert route.upstream == "gemini-3.1-flash-image"
    assert route.request_type == "image_gen"
    assert route.image == ImageConfig(aspect_ratio="16:9", image_size="4K")
    assert route.image.to_upstream() == {"aspectRatio": "16:9", "imageSize": "4K"}
    plain = resolve_model("gemini-3.1-flash-image", {})
    assert plain.request_type == "image_gen" and plain.image == ImageConfig()
    assert resolve_model("gemini-3.1-flash-image-9-16", {}).image == ImageConfig(aspect_ratio="9:16")
    # a mapping target may carry the suffixes too
    mapped = resolve_model("dall-e-3", {"dall-e-3": "gemini-3.1-flash-image-2k-1x1"})
    assert mapped.image == ImageConfig("1:1", "2K") and mapped.upstream == "gemini-3.1-flash-image"


def test_every_listed_image_variant_resolves():
    for name in image_variants(["gemini-3.1-flash-image"]):
        route = resolve_model(name, {})
        assert route.upstream == "gemini-3.1-flash-image" and route.request_type == "image_gen"


def test_name_normalisation():
    assert resolve_model("models/gemini-3-flash", {}).upstream == "gemini-3-flash"
    assert resolve_model("claude-opus-4-6[1m]", {}).upstream == "claude-opus-4-6-thinking"


def test_family_and_caps():
    assert model_family("claude-sonnet-4-6") == "claude"
    assert model_family("gpt-oss-120b-medium") == "gpt-oss"
    assert model_family("gemini-3-flash") == "gemini"
    assert is_gemini3("gemini-3-flash") and is_gemini3("gemini-3.1-pro-high") and is_gemini3("gemini-pro-agent")
    assert not is_gemini3("gemini-2.5-flash") and not is_gemini3("claude-opus-4-6-thinking")
    claude = model_caps("claude-opus-4-6-thinking")
    assert (claude.context_window, claude.max_output, claude.thinking_by_default) == (200_000, 64_000, True)
    assert not model_caps("claude-sonnet-4-6").thinking_by_default
    assert model_caps("gpt-oss-120b-medium").thinking is False
    assert model_caps("gemini-3.1-pro-high").levels == ("low", "medium", "high")
    assert "minimal" in model_caps("gemini-3-flash").levels
    assert model_caps("gemini-2.5-flash").levels == ()
    assert model_caps("gemini-3.1-flash-image").image_output


def test_caps_refined_by_reported_entry():
    caps = model_caps("gemini-3-flash", {"maxTokens": 500_000, "maxOutputTokens": 8192, "thinkingBudget": 4000,
                                         "supportsThinking": True, "minThinkingBudget": "junk"})
    assert (caps.context_window, caps.max_output, caps.budget_max, caps.budget_min) == (500_000, 8192, 4000, 0)
    off = model_caps("gemini-3-flash", {"supportsThinking": False, "maxOutputTokens": -1})
    assert off.thinking is False and off.levels == () and off.max_output == 65_535


def test_listing_filters_internal_ids():
    assert not is_listable("chat_20706") and not is_listable("tab_flash_lite_preview")
    assert not is_listable("internal-background-task") and not is_listable("")
    assert all(is_listable(m) for m in DEFAULT_MODELS)


@given(st.text(max_size=40), st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5))
def test_resolve_never_raises_anything_but_client_error(name, mappings):
    try:
        route = resolve_model(name, mappings)
    except ClientError:
        return
    assert route.requested == name
    assert route.request_type in ("agent", "web_search", "image_gen")
