//! Validating JSON against schemas inside OpenAPI 3.0 documents (JSON or YAML).
//!
//! OpenAPI 3.0 schemas are nearly JSON Schema draft 4; the difference that matters is
//! `nullable: true`, rewritten here as `anyOf [schema, {type: null}]`. A schema is addressed by
//! a JSON pointer into the document (`#/components/schemas/Company`), and `$ref`s resolve
//! within the same document.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

pub use jsonschema::Draft;

/// The reference folder beside the repository (`../shared/reference`), or `REFERENCE_DIR`.
pub fn reference_dir() -> PathBuf {
    std::env::var_os("REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference"))
}

/// An OpenAPI document ready for validation.
pub struct Spec {
    document: Value,
    name: String,
    draft: jsonschema::Draft,
}

/// Rewrites OpenAPI's `nullable: true` into JSON Schema.
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

impl Spec {
    /// Loads a `.json`, `.yml` or `.yaml` OpenAPI document.
    pub fn load(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut document: Value = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        } else {
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        rewrite(&mut document);
        Self { document, name: path.display().to_string(), draft: jsonschema::Draft::Draft4 }
    }

    /// Uses another JSON Schema draft (default: draft 4, as OpenAPI 3.0).
    pub fn with_draft(mut self, draft: jsonschema::Draft) -> Self {
        self.draft = draft;
        self
    }

    /// Loads a document under [`reference_dir`].
    pub fn reference(relative: &str) -> Self {
        Self::load(&reference_dir().join(relative))
    }

    /// Problems of `instance` against the schema at `pointer` (`#/...`); empty when valid.
    pub fn errors(&self, pointer: &str, instance: &Value) -> Vec<String> {
        let target = pointer.trim_start_matches('#');
        let decoded = target.replace("%7B", "{").replace("%7D", "}");
        assert!(self.document.pointer(&decoded).is_some(), "{}: no schema at {pointer}", self.name);
        let mut root = self.document.clone();
        root["$ref"] = Value::String(pointer.to_string());
        let validator = jsonschema::options()
            .with_draft(self.draft)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{}: compiling {pointer}: {e}", self.name));
        validator.iter_errors(instance).map(|e| format!("{e} at {}", e.instance_path())).collect()
    }

    /// Asserts `instance` is valid against the schema at `pointer`.
    pub fn assert_valid(&self, pointer: &str, instance: &Value) {
        let errors = self.errors(pointer, instance);
        let shown: String = instance.to_string().chars().take(2000).collect();
        assert!(errors.is_empty(), "{} {pointer}: invalid:\n{}\n{shown}", self.name, errors.join("\n"));
    }
}
