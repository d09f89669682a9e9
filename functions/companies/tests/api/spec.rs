//! Validates live responses against the schemas of Codat's Platform OpenAPI spec
//! (`../shared/reference/codat/Codat-Platform.json`). OpenAPI 3.0's `nullable` is rewritten
//! into JSON Schema (`anyOf [..., null]`) before compiling.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

fn spec_path() -> std::path::PathBuf {
    std::env::var_os("CODAT_SPEC_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| devstack::repo_root().join("../shared/reference/codat"))
        .join("Codat-Platform.json")
}

/// Rewrites `nullable: true` (OpenAPI 3.0) as JSON Schema.
fn rewrite(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(rewrite);
            if map.remove("nullable") == Some(Value::Bool(true)) {
                let inner = Value::Object(std::mem::take(map));
                let mut wrapped = Map::new();
                wrapped.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                *map = wrapped;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite),
        _ => {}
    }
}

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(spec_path())
            .unwrap_or_else(|e| panic!("{}: {e}", spec_path().display()));
        let mut value: Value = serde_json::from_str(&text).expect("spec is JSON");
        rewrite(&mut value);
        value
    })
}

/// Asserts that `instance` is valid against the spec's `components/schemas/<name>`.
pub fn assert_valid(name: &str, instance: &Value) {
    let mut root = spec().clone();
    assert!(
        root["components"]["schemas"].get(name).is_some(),
        "no schema {name} in the spec"
    );
    root["$ref"] = Value::String(format!("#/components/schemas/{name}"));
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("compiling {name}: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} invalid:\n{}\n{}",
        errors.join("\n"),
        instance
    );
}

#[test]
fn the_validator_rejects_what_the_spec_forbids() {
    // A connection with a status outside the enum and an extra property must fail.
    let bad = json!({
        "id": "51baa045-4836-4317-a42e-3542e991e581",
        "integrationId": "6a4e1f0c-3b7d-4c59-9a51-7f2b8d1e4c20",
        "sourceId": "b7e2c9a4-58f1-4d0e-8c36-2a9f4e7d1b53",
        "sourceType": "Commerce",
        "platformName": "BigCommerce",
        "linkUrl": "https://x.test/link",
        "status": "Connected",
        "created": "2026-01-01T00:00:00Z",
        "surprise": true,
    });
    let result = std::panic::catch_unwind(|| assert_valid("Connection", &bad));
    assert!(result.is_err(), "an invalid connection passed validation");
}
