from google.genai import types
from google.genai.models import _Model_from_mldev
from openai.types import Model

from antigravityd.translate.models import model_caps, resolve_model
from antigravityd.translate.models_listing import (
    LISTING_CREATED,
    gemini_model,
    gemini_models,
    listed_model_ids,
    openai_models,
)


def test_listed_ids_union_filtered_and_sorted():
    ids = listed_model_ids(["gemini-3-flash", "chat_20706", "tab_flash_lite_preview", "claude-opus-4-6-thinking"],
                           {"my-model": "gemini-3-flash", "gpt-*": "gemini-3-flash"})
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert "my-model" in ids and "gpt-*" not in ids and "chat_20706" not in ids and "tab_flash_lite_preview" not in ids
    assert "internal-background-task" not in ids
    assert "gemini-3.1-flash-image-4k-16x9" in ids and "gemini-3-pro-image-2k" in ids
    for name in ids:  # every listed name is accepted by the resolver
        resolve_model(name, {"my-model": "gemini-3-flash"})


def test_openai_list_parses_with_the_sdk():
    body = openai_models(["a", "b"])
    assert body["object"] == "list" and [m["id"] for m in body["data"]] == ["a", "b"]
    for entry in body["data"]:
        Model.model_validate(entry)
        assert entry["created"] == LISTING_CREATED and entry["owned_by"] == "antigravity"


def test_gemini_models_parse_with_the_sdk():
    one = gemini_model("gemini-3-flash", model_caps("gemini-3-flash"))
    assert one["name"] == "models/gemini-3-flash" and one["inputTokenLimit"] == 1_048_576
    parsed = types.Model._from_response(response=_Model_from_mldev(one), kwargs={})  # what models.get() does
    assert parsed.output_token_limit == 65_535 and "generateContent" in parsed.supported_actions
    body = gemini_models([("claude-opus-4-6", model_caps("claude-opus-4-6-thinking"))])
    assert body["models"][0]["outputTokenLimit"] == 64_000
