"""The tool-schema cleaner: every pitfall of upstream-protocol §10.5, the §10.2 example, and properties."""

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from antigravityd.translate.schema import (
    RESPONSE_SCHEMA_KEYS,
    TOOL_SCHEMA_KEYS,
    clean_response_schema,
    clean_tool_schema,
)
from antigravityd.translate.tool_args import coerce_tool_args
from tests.support.schema_check import proto_schema_problems


def clean(schema):
    out = clean_tool_schema(schema)
    assert proto_schema_problems(out, TOOL_SCHEMA_KEYS) == []
    return out


def test_spec_example_10_2():
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": False,
        "$defs": {"Unit": {"type": "string", "enum": ["c", "f"]}},
        "properties": {
            "city": {"type": "string", "minLength": 1, "description": "City"},
            "unit": {"$ref": "#/$defs/Unit", "default": "c"},
            "days": {"type": ["integer", "null"], "minimum": 1, "maximum": 14},
            "filter": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {"q": {"type": "string"}}}]},
        },
        "required": ["city", "days"],
    }
    out = clean(schema)
    props = out["properties"]
    assert out["type"] == "object" and out["required"] == ["city"]  # days is nullable → not required
    assert props["city"] == {"type": "string", "description": "City (minLength: 1)"}
    assert props["unit"]["type"] == "string" and props["unit"]["enum"] == ["c", "f"]
    assert "default: c" in props["unit"]["description"]
    assert props["days"]["type"] == "integer" and props["days"]["nullable"] is True
    assert "minimum: 1" in props["days"]["description"] and "maximum: 14" in props["days"]["description"]
    assert props["filter"]["type"] == "object" and props["filter"]["nullable"] is True
    assert props["filter"]["properties"] == {"q": {"type": "string"}}


# --- §10.5 #2: property names equal to keywords survive


def test_property_names_that_are_keywords_survive():
    names = ["format", "pattern", "default", "enum", "type", "title", "items", "properties", "$ref", "required",
             "additionalProperties", "const", "anyOf"]
    schema = {"type": "object", "properties": {n: {"type": "string", "description": n} for n in names},
              "required": names}
    out = clean(schema)
    assert list(out["properties"]) == names
    assert out["required"] == names
    assert all(out["properties"][n] == {"type": "string", "description": n} for n in names)


# --- §10.5 #3: data-valued keywords are never walked


def test_data_keywords_are_not_treated_as_schemas():
    default = {"type": "x", "foo": 1, "$ref": "#/nowhere", "properties": {"a": True}}
    schema = {"type": "object", "properties": {
        "mode": {"type": "object", "properties": {"k": {"type": "string"}}, "default": default,
                 "examples": [{"type": "object"}], "example": {"anyOf": []}},
        "kind": {"enum": [{"type": "string"}, "plain"]},
        "fixed": {"const": {"properties": {"x": 1}}},
    }, "required": ["mode"]}
    before = copy.deepcopy(schema)
    out = clean(schema)
    assert schema == before  # the input is not modified
    mode = out["properties"]["mode"]
    assert mode["properties"] == {"k": {"type": "string"}}
    assert json.dumps(default, sort_keys=True, separators=(",", ":")) in mode["description"]
    assert out["properties"]["kind"]["enum"] == ['{"type":"string"}', "plain"]
    assert out["properties"]["fixed"]["enum"] == ['{"properties":{"x":1}}']
    assert out["required"] == ["mode"]


def test_required_is_data_even_when_it_names_keywords():
    out = clean({"type": "object", "properties": {"type": {"type": "string"}}, "required": ["type", "items"]})
    assert out["required"] == ["type"]


# --- §10.5 #4: properties and items on one node


def test_properties_and_items_are_walked_independently_and_type_decides():
    as_object = clean({"type": "object", "properties": {"a": {"type": ["string", "null"]}},
                       "items": {"type": "integer", "minimum": 0}})
    assert as_object == {"type": "object", "properties": {"a": {"type": "string", "nullable": True}}}
    as_array = clean({"type": "object", "properties": {"list": {
        "type": "array", "properties": {"x": {"type": "string"}}, "items": {"type": "object", "title": "T",
                                                                          "properties": {"y": {"const": 1}}}}}})
    list_schema = as_array["properties"]["list"]
    assert "properties" not in list_schema
    assert list_schema["items"] == {"type": "object", "properties": {"y": {"type": "integer",
                                                                          "description": "(allowed: 1)"}}}


# --- §10.5 #5: type arrays


def test_type_arrays_become_one_type_plus_nullable():
    out = clean({"type": "object", "properties": {
        "a": {"type": ["string", "null"]},
        "b": {"type": ["null", "INTEGER", "string"]},
        "c": {"type": ["null"]},
        "d": {"type": "NUMBER"},
    }, "required": ["a", "b", "c", "d"]})
    props = out["properties"]
    assert props["a"] == {"type": "string", "nullable": True}
    assert props["b"]["type"] == "integer" and props["b"]["nullable"] is True
    assert "accepts: integer | string" in props["b"]["description"]
    assert props["c"] == {"type": "string", "nullable": True}
    assert props["d"] == {"type": "number"}
    assert out["required"] == ["d"]


# --- §10.5 #6: boolean schemas


def test_boolean_schemas_are_dropped():
    out = clean({"type": "object", "properties": {"any": True, "never": False, "ok": {"type": "boolean"}},
                 "additionalProperties": True, "required": ["any", "ok"]})
    assert out == {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    arr = clean({"type": "object", "properties": {"xs": {"type": "array", "items": False}}})
    assert arr["properties"]["xs"] == {"type": "array", "items": {"type": "string"}}


# --- §10.5 #7: $ref cycles


def test_recursive_refs_stop_after_one_expansion():
    tree = {"$defs": {"Node": {"type": "object", "properties": {
        "name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}},
        "type": "object", "properties": {"root": {"$ref": "#/$defs/Node"}}}
    out = clean(tree)
    root = out["properties"]["root"]
    assert root["properties"]["name"] == {"type": "string"}
    inner = root["properties"]["children"]["items"]
    assert inner["type"] == "object" and "recursive: Node" in inner["description"]


def test_self_reference_to_root_and_mutual_recursion():
    out = clean({"type": "object", "properties": {"next": {"$ref": "#"}}})
    assert out["properties"]["next"]["properties"]["next"]["type"] == "object"
    mutual = {"definitions": {"A": {"type": "object", "properties": {"b": {"$ref": "#/definitions/B"}}},
                              "B": {"type": "object", "properties": {"a": {"$ref": "#/definitions/A"}}}},
              "type": "object", "properties": {"start": {"$ref": "#/definitions/A"}}}
    clean(mutual)


def test_refs_resolve_by_name_at_any_level_and_unresolved_become_hints():
    schema = {"type": "object", "properties": {
        "a": {"$ref": "#/definitions/Deep"},
        "b": {"$ref": "https://example.com/schema.json"},
        "c": {"type": "object", "$defs": {"Deep": {"type": "integer"}}, "properties": {"x": {"$ref": "#/$defs/Deep"}}},
    }}
    props = clean(schema)["properties"]
    assert props["a"] == {"type": "integer"}
    assert props["b"]["type"] == "string" and "unresolved reference" in props["b"]["description"]
    assert props["c"]["properties"]["x"] == {"type": "integer"}


def test_ref_siblings_win_over_the_target():
    out = clean({"$defs": {"T": {"type": "string", "description": "from def"}},
                 "type": "object", "properties": {"t": {"$ref": "#/$defs/T", "description": "local"}}})
    assert out["properties"]["t"] == {"type": "string", "description": "local"}


# --- §10.5 #8: required referencing missing properties


def test_required_filtered_to_existing_properties():
    out = clean({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "ghost", 5, "a"]})
    assert out["required"] == ["a"]
    assert "required" not in clean({"type": "object", "required": ["x"]})


# --- §10.5 #9: empty object schemas


def test_empty_object_schemas_get_properties():
    assert clean({"type": "object"}) == {"type": "object", "properties": {}}
    assert clean({}) == {"type": "object", "properties": {}}
    assert clean(None) == {"type": "object", "properties": {}}
    nested = clean({"type": "object", "properties": {"meta": {"type": "object", "additionalProperties": True}}})
    assert nested["properties"]["meta"] == {"type": "object", "properties": {}}


# --- §10.5 #10: enums


def test_enums_are_strings():
    props = clean({"type": "object", "properties": {
        "s": {"type": "string", "enum": ["a", 1, True, None, 2.5]},
        "untyped": {"enum": ["x", 3]},
        "ints": {"type": "integer", "enum": [1, 2, 3]},
        "inferred": {"enum": [1, 2]},
    }})["properties"]
    assert props["s"] == {"type": "string", "nullable": True, "enum": ["a", "1", "true", "2.5"]}
    assert props["untyped"] == {"type": "string", "enum": ["x", "3"]}
    assert props["ints"] == {"type": "integer", "description": "(allowed: 1, 2, 3)"}
    assert props["inferred"]["type"] == "integer"


def test_string_constant_unions_merge_into_one_enum():
    out = clean({"type": "object", "properties": {"level": {
        "description": "How much", "oneOf": [{"const": "low"}, {"const": "high"}, {"type": "null"}]}}})
    assert out["properties"]["level"] == {"type": "string", "description": "How much", "nullable": True,
                                          "enum": ["low", "high"]}


# --- §10.5 #11: depth bombs


def test_depth_bomb_is_truncated():
    node: dict = {"type": "string"}
    for _ in range(500):
        node = {"type": "object", "properties": {"x": node}}
    out = clean(node)
    depth = 0
    while "x" in out.get("properties", {}):
        out = out["properties"]["x"]
        depth += 1
    assert 60 <= depth <= 70 and "truncated" in out["description"]


def test_ref_diamond_explosion_is_bounded():
    defs = {"L0": {"type": "string"}}
    for i in range(1, 40):
        defs[f"L{i}"] = {"type": "object", "properties": {"a": {"$ref": f"#/$defs/L{i-1}"},
                                                          "b": {"$ref": f"#/$defs/L{i-1}"}}}
    out = clean({"$defs": defs, "type": "object", "properties": {"top": {"$ref": "#/$defs/L39"}}})
    assert len(json.dumps(out)) < 5_000_000


# --- §10.5 #12: argument coercion on replay


def test_coerce_tool_args():
    schema = clean({"type": "object", "properties": {
        "count": {"type": "integer"}, "ratio": {"type": "number"}, "flag": {"type": "boolean"},
        "code": {"type": "integer"}, "name": {"type": "string"},
        "nested": {"type": "object", "properties": {"n": {"type": "integer"}}},
        "list": {"type": "array", "items": {"type": "number"}}}})
    args = {"count": "5", "ratio": "0.5", "flag": "true", "code": "007", "name": "12", "unknown": "3",
            "nested": {"n": "-4", "other": "1"}, "list": ["1", "x", "2.5"]}
    out = coerce_tool_args(args, schema)
    assert out == {"count": 5, "ratio": 0.5, "flag": True, "code": "007", "name": "12", "unknown": "3",
                   "nested": {"n": -4, "other": "1"}, "list": [1, "x", 2.5]}
    assert args["count"] == "5"  # not modified in place
    assert coerce_tool_args({"a": "1"}, None) == {"a": "1"}


# --- other shapes clients send


def test_allof_merges_properties_and_required():
    out = clean({"allOf": [
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
    ]})
    assert out == {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
                   "required": ["a", "b"]}


def test_union_prefers_object_then_array():
    out = clean({"type": "object", "properties": {"v": {"anyOf": [
        {"type": "string"}, {"type": "array", "items": {"type": "string"}},
        {"type": "object", "properties": {"k": {"type": "string"}}}]}}})
    v = out["properties"]["v"]
    assert v["type"] == "object" and v["properties"] == {"k": {"type": "string"}}
    assert "accepts: string | array | object" in v["description"]


def test_bare_property_map_and_per_property_required_true():
    out = clean({"city": {"type": "string", "required": True}, "days": {"type": "integer"}})
    assert out == {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                   "required": ["city"]}


def test_snake_case_keywords_and_upper_case_types():
    out = clean({"type": "OBJECT", "properties": {"x": {"any_of": [{"type": "STRING"}, {"type": "NULL"}]}}})
    assert out == {"type": "object", "properties": {"x": {"type": "string", "nullable": True}}}


def test_non_object_top_level_becomes_object():
    assert clean({"type": "string", "description": "raw"}) == {"type": "object", "description": "raw",
                                                               "properties": {}}


def test_gemini_cli_schemas_pass_unchanged_but_for_hints():
    from tests.translate.captures import gemini_cli_stream_body

    for decl in gemini_cli_stream_body()["tools"][0]["functionDeclarations"]:
        out = clean(decl["parametersJsonSchema"])
        assert set(out["properties"]) == set(decl["parametersJsonSchema"]["properties"])


def test_response_schema_is_milder():
    schema = {"type": "object", "title": "Answer", "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 100, "format": "int32"},
        "maybe": {"type": ["string", "null"]}, "tags": {"type": "array", "maxItems": 3, "items": {"type": "string"}},
    }, "required": ["score", "maybe"], "additionalProperties": False}
    out = clean_response_schema(schema)
    assert proto_schema_problems(out, RESPONSE_SCHEMA_KEYS) == []
    assert out["title"] == "Answer" and out["required"] == ["score", "maybe"]
    assert out["properties"]["score"]["minimum"] == 1 and out["properties"]["score"]["maximum"] == 100
    assert out["properties"]["tags"]["maxItems"] == 3
    assert clean_response_schema({"type": "array", "items": {"type": "string"}})["type"] == "array"
    assert clean_response_schema({"type": "object"}) == {"type": "object"}


# --- properties


KEYWORDS = ["type", "properties", "items", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "enum",
            "const", "default", "examples", "example", "required", "nullable", "description", "title", "format",
            "additionalProperties", "minimum", "minLength", "pattern", "any_of", "not", "prefixItems"]
TYPE_NAMES = ["string", "number", "integer", "boolean", "array", "object", "null", "OBJECT", "weird"]
REFS = ["#", "#/$defs/A", "#/definitions/B", "#/properties/a", "#/$defs/missing", "http://x", "#/anyOf/0"]

scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False, width=16) | st.text(max_size=5)
keyword_values = st.sampled_from(TYPE_NAMES) | st.lists(st.sampled_from(TYPE_NAMES), max_size=3) | \
    st.sampled_from(REFS)

json_values = st.recursive(
    scalars | keyword_values,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYWORDS) | st.sampled_from(["a", "b", "A", "B"]) | st.text(max_size=4),
                      children, max_size=6),
    max_leaves=40,
)


data_values = scalars | st.dictionaries(st.sampled_from(KEYWORDS), scalars, max_size=3) | st.lists(scalars, max_size=3)
PROP_NAMES = st.sampled_from(["a", "b", "type", "format", "items", "properties", "enum", "x"])


def _schema_node(children):
    return st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(TYPE_NAMES) | st.lists(st.sampled_from(TYPE_NAMES), max_size=3),
        "description": st.text(max_size=6),
        "enum": st.lists(scalars, max_size=4),
        "const": data_values,
        "default": data_values,
        "nullable": st.booleans(),
        "$ref": st.sampled_from(REFS),
        "minimum": st.integers(-3, 3),
        "format": st.sampled_from(["uri", "date-time"]),
        "properties": st.dictionaries(PROP_NAMES, children, max_size=4),
        "items": children | st.lists(children, max_size=2),
        "anyOf": st.lists(children, max_size=3),
        "oneOf": st.lists(children, max_size=3),
        "allOf": st.lists(children, max_size=2),
        "$defs": st.dictionaries(st.sampled_from(["A", "B"]), children, max_size=2),
        "required": st.lists(PROP_NAMES | st.integers(), max_size=4),
        "additionalProperties": children,
    })


_nodes = st.recursive(_schema_node(st.booleans() | st.just({})), _schema_node, max_leaves=10)
schemas = st.one_of(
    st.builds(lambda props, rest: {**rest, "type": "object", "properties": props},
              st.dictionaries(PROP_NAMES, _nodes, min_size=1, max_size=3), _schema_node(st.booleans() | st.just({}))),
    _nodes,
    json_values,
)


def _all_keys_whitelisted(node, allowed):
    return proto_schema_problems(node, allowed) == []


@settings(max_examples=250, deadline=None)
@given(schemas)
def test_cleaner_never_raises_output_is_whitelisted_and_idempotent(schema):
    before = copy.deepcopy(schema)
    out = clean_tool_schema(schema)
    assert schema == before
    assert out["type"] == "object"
    assert _all_keys_whitelisted(out, TOOL_SCHEMA_KEYS), proto_schema_problems(out, TOOL_SCHEMA_KEYS)
    assert clean_tool_schema(out) == out
    json.dumps(out)


@settings(max_examples=150, deadline=None)
@given(schemas)
def test_response_cleaner_never_raises_and_is_idempotent(schema):
    out = clean_response_schema(schema)
    assert _all_keys_whitelisted(out, RESPONSE_SCHEMA_KEYS), proto_schema_problems(out, RESPONSE_SCHEMA_KEYS)
    assert clean_response_schema(out) == out


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), json_values)
def test_coercion_never_raises_and_keeps_keys(args, schema):
    out = coerce_tool_args(args, clean_tool_schema(schema))
    assert set(out) == set(args)


def test_schema_cache_returns_the_same_cleaning_and_counts_hits():
    from antigravityd.translate.schema import SchemaCache

    cache = SchemaCache(max_entries=2)
    a = {"type": "object", "properties": {"x": {"type": ["string", "null"]}}}
    b = {"properties": {"x": {"type": ["string", "null"]}}, "type": "object"}  # same schema, other key order
    assert cache.clean_tool_schema(a) == clean_tool_schema(a)
    assert cache.clean_tool_schema(b) is cache.clean_tool_schema(a)
    assert (cache.hits, cache.misses) == (2, 1)
    assert cache.clean_response_schema(a) == clean_response_schema(a)  # separate entries per cleaner
    cache.clean_tool_schema({"type": "string"})
    cache.clean_tool_schema(a)
    assert cache.misses == 4  # evicted by the bound of 2
    deep: dict = {}
    node = deep
    for _ in range(300):  # deeper than orjson serialises: cleaned without caching
        node["properties"] = {"x": {}}
        node = node["properties"]["x"]
    assert cache.clean_tool_schema(deep)["type"] == "object"
    assert cache.clean_tool_schema({1: "x"}) == clean_tool_schema({1: "x"})


@settings(max_examples=100, deadline=None)
@given(schemas)
def test_cached_cleaning_equals_uncached(schema):
    from antigravityd.translate.schema import SchemaCache

    cache = SchemaCache()
    assert cache.clean_tool_schema(schema) == clean_tool_schema(schema)
    assert cache.clean_response_schema(schema) == clean_response_schema(schema)
