//! Reduces OpenAPI 3.0 documents to what response validation needs: the structure of their
//! schemas, without descriptions or examples.
//!
//! Kept: `components/schemas`, `components/responses`, `components/requestBodies`, the schemas of
//! `components/parameters`, and every operation's `responses` and `requestBody`, each cut to its
//! `content/<media type>/schema` (or its `$ref`). In a schema only the validation keywords stay
//! (types, properties, required, enums, formats, patterns, items, combinators, references,
//! bounds); `nullable: true` is rewritten as JSON Schema's `anyOf [schema, {type: null}]`. JSON pointers into the original document (`#/paths/~1store/get/
//! responses/200/content/application~1json/schema`, `#/components/schemas/Order/allOf/0`) keep
//! addressing the same schema in the reduced one. Objects are written with sorted keys, so the
//! output depends on the document alone.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

/// The documents the tests validate against, relative to the reference folder.
pub const DOCUMENTS: &[&str] = &[
    "codat/Codat-Platform.json",
    "codat/Codat-Commerce.json",
    "bigcommerce/store_information.v2.yml",
    "bigcommerce/orders.v2.oas2.yml",
    "bigcommerce/orders.v3.yml",
    "bigcommerce/customers.v3.yml",
    "bigcommerce/catalog/products_catalog.v3.yml",
    "bigcommerce/catalog/category-trees_catalog.v3.yml",
    "bigcommerce/catalog/categories_catalog.v3.yml",
];

/// Keywords whose value is copied as it is.
const VERBATIM: &[&str] = &[
    "$ref",
    "type",
    "format",
    "pattern",
    "enum",
    "const",
    "required",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
];
/// Keywords whose value is one schema (or, for `items` and `additionalProperties`, a list or a bool).
const SCHEMA: &[&str] = &["items", "additionalProperties", "not"];
/// Keywords whose value is a list of schemas.
const SCHEMA_LIST: &[&str] = &["allOf", "anyOf", "oneOf"];
/// Keywords whose value maps names to schemas.
const SCHEMA_MAP: &[&str] = &["properties", "patternProperties", "definitions", "$defs"];
const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/// Where the reduced form of `document` (a path in [`DOCUMENTS`]) is committed, relative to the
/// schemas folder: the same path with a `.json` extension.
pub fn output_name(document: &str) -> String {
    let stem = document.strip_suffix(".json").or_else(|| document.strip_suffix(".yml")).unwrap_or(document);
    format!("{stem}.json")
}

/// The folder of committed schemas (`tools/testkit/schemas`).
pub fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

/// Parses a `.json`, `.yml` or `.yaml` document.
pub fn parse(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    } else {
        serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The reduced document as committed: pretty JSON with sorted keys and a final newline.
pub fn reduce_to_text(document: &Value) -> Result<String, String> {
    let reduced = reduce(document)?;
    let mut text = serde_json::to_string_pretty(&sorted(&reduced)).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

/// Reduces an OpenAPI 3.0 document; fails when it is not one, or when a `$ref` of what is kept
/// points at something that was not kept.
pub fn reduce(document: &Value) -> Result<Value, String> {
    let version = document["openapi"].as_str().unwrap_or_default();
    if !version.starts_with("3.") {
        return Err(format!("not an OpenAPI 3 document (openapi: {version:?})"));
    }
    let mut out = Map::new();
    let mut components = Map::new();
    if let Some(schemas) = document["components"]["schemas"].as_object() {
        components.insert("schemas".into(), map_values(schemas, schema));
    }
    for kind in ["responses", "requestBodies"] {
        if let Some(bodies) = document["components"][kind].as_object() {
            components.insert(kind.into(), map_values(bodies, body));
        }
    }
    if let Some(parameters) = document["components"]["parameters"].as_object() {
        components.insert("parameters".into(), map_values(parameters, parameter));
    }
    out.insert("components".into(), Value::Object(components));
    let mut paths = Map::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        let mut operations = Map::new();
        for method in METHODS {
            let operation = &item[*method];
            let mut kept = Map::new();
            if let Some(responses) = operation["responses"].as_object() {
                kept.insert("responses".into(), map_values(responses, body));
            }
            if let Some(request) = operation.get("requestBody") {
                kept.insert("requestBody".into(), body(request));
            }
            if !kept.is_empty() {
                operations.insert((*method).into(), Value::Object(kept));
            }
        }
        paths.insert(path.clone(), Value::Object(operations));
    }
    out.insert("paths".into(), Value::Object(paths));
    let out = Value::Object(out);
    check_references(&out, &out)?;
    Ok(out)
}

fn map_values(map: &Map<String, Value>, f: fn(&Value) -> Value) -> Value {
    Value::Object(map.iter().map(|(k, v)| (k.clone(), f(v))).collect())
}

/// A response or request body (or a reference to one) cut to its content schemas.
fn body(value: &Value) -> Value {
    let mut out = Map::new();
    if let Some(reference) = value.get("$ref") {
        out.insert("$ref".into(), reference.clone());
    }
    if let Some(content) = value["content"].as_object() {
        let media: Map<String, Value> = content
            .iter()
            .filter_map(|(kind, body)| body.get("schema").map(|s| (kind.clone(), json!({ "schema": schema(s) }))))
            .collect();
        out.insert("content".into(), Value::Object(media));
    }
    Value::Object(out)
}

/// A parameter (or a reference to one) cut to its schema.
fn parameter(value: &Value) -> Value {
    let mut out = Map::new();
    if let Some(reference) = value.get("$ref") {
        out.insert("$ref".into(), reference.clone());
    }
    if let Some(inner) = value.get("schema") {
        out.insert("schema".into(), schema(inner));
    }
    Value::Object(out)
}

/// A schema cut to its validation keywords, with `nullable` rewritten.
fn schema(value: &Value) -> Value {
    let Some(map) = value.as_object() else { return value.clone() };
    let mut out = Map::new();
    for (key, inner) in map {
        let key_str = key.as_str();
        let kept = if VERBATIM.contains(&key_str) {
            inner.clone()
        } else if SCHEMA.contains(&key_str) {
            match inner {
                Value::Array(items) => Value::Array(items.iter().map(schema).collect()),
                other => schema(other),
            }
        } else if SCHEMA_LIST.contains(&key_str) {
            match inner {
                Value::Array(items) => Value::Array(items.iter().map(schema).collect()),
                other => other.clone(),
            }
        } else if SCHEMA_MAP.contains(&key_str) {
            match inner.as_object() {
                Some(map) => map_values(map, schema),
                None => inner.clone(),
            }
        } else {
            continue;
        };
        out.insert(key.clone(), kept);
    }
    if map.get("nullable") == Some(&Value::Bool(true)) {
        return json!({ "anyOf": [Value::Object(out), {"type": "null"}] });
    }
    Value::Object(out)
}

/// Fails on the first `$ref` that does not resolve within `root`.
fn check_references(value: &Value, root: &Value) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                let pointer = reference.strip_prefix('#').ok_or_else(|| format!("non-local $ref {reference}"))?;
                let decoded = pointer.replace("%7B", "{").replace("%7D", "}");
                if root.pointer(&decoded).is_none() {
                    return Err(format!("$ref {reference} does not resolve in the reduced document"));
                }
            }
            map.values().try_for_each(|v| check_references(v, root))
        }
        Value::Array(items) => items.iter().try_for_each(|v| check_references(v, root)),
        _ => Ok(()),
    }
}

/// A copy with every object's keys inserted in sorted order (whatever map serde_json uses).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(schemas: Value) -> Value {
        json!({"openapi": "3.0.0", "info": {"title": "t", "description": "long"}, "components": {"schemas": schemas}})
    }

    #[test]
    fn descriptions_and_examples_go_and_property_names_stay() {
        let reduced = reduce(&document(json!({
            "A": {
                "type": "object",
                "description": "gone",
                "example": {"x": 1},
                "required": ["description"],
                "properties": {
                    "description": {"type": "string", "maxLength": 5, "description": "gone too"},
                    "example": {"$ref": "#/components/schemas/B"}
                },
                "x-internal": true
            },
            "B": {"type": "integer", "format": "int32", "enum": [1, 2], "title": "gone"}
        })))
        .expect("reduces");
        assert_eq!(
            reduced["components"]["schemas"],
            json!({
                "A": {
                    "type": "object",
                    "required": ["description"],
                    "properties": {
                        "description": {"type": "string", "maxLength": 5},
                        "example": {"$ref": "#/components/schemas/B"}
                    }
                },
                "B": {"type": "integer", "format": "int32", "enum": [1, 2]}
            })
        );
    }

    #[test]
    fn nullable_becomes_any_of_null_at_every_depth() {
        let reduced = reduce(&document(json!({
            "A": {"type": "array", "nullable": true, "items": {"type": "string", "nullable": true}}
        })))
        .expect("reduces");
        assert_eq!(
            reduced["components"]["schemas"]["A"],
            json!({"anyOf": [
                {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
                {"type": "null"}
            ]})
        );
    }

    #[test]
    fn responses_keep_only_their_content_schemas() {
        let reduced = reduce(&json!({
            "openapi": "3.0.3",
            "paths": {"/store": {
                "parameters": [{"name": "x"}],
                "get": {
                    "summary": "gone",
                    "parameters": [{"$ref": "#/components/parameters/Gone"}],
                    "responses": {
                        "200": {"description": "ok", "headers": {}, "content": {"application/json": {
                            "schema": {"type": "object", "description": "gone"}, "example": {}
                        }}},
                        "404": {"$ref": "#/components/responses/NotFound"}
                    }
                }
            }},
            "components": {
                "responses": {"NotFound": {"description": "none"}},
                "parameters": {"Gone": {"name": "gone", "in": "query", "schema": {"type": "string", "example": "x"}}}
            }
        }))
        .expect("reduces");
        assert_eq!(
            reduced["paths"]["/store"],
            json!({"get": {"responses": {
                "200": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "404": {"$ref": "#/components/responses/NotFound"}
            }}})
        );
        assert_eq!(reduced["components"]["parameters"], json!({"Gone": {"schema": {"type": "string"}}}));
    }

    #[test]
    fn a_reference_to_something_dropped_is_an_error() {
        let error = reduce(&document(json!({"A": {"$ref": "#/components/parameters/P"}}))).expect_err("dangling");
        assert!(error.contains("#/components/parameters/P"), "{error}");
        assert!(reduce(&json!({"swagger": "2.0"})).is_err());
    }

    #[test]
    fn the_text_is_the_same_whatever_the_key_order() {
        let a = document(json!({"A": {"type": "object", "required": ["x"]}, "B": {"type": "string"}}));
        let b: Value = serde_json::from_str(
            r#"{"components":{"schemas":{"B":{"type":"string"},"A":{"required":["x"],"type":"object"}}},"openapi":"3.0.0"}"#,
        )
        .expect("json");
        assert_eq!(reduce_to_text(&a).expect("a"), reduce_to_text(&b).expect("b"));
    }
}
