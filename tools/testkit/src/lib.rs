//! Validating JSON against the schemas of OpenAPI 3.0 documents (Codat's, BigCommerce's).
//!
//! The tests validate against reduced copies of those documents committed under `schemas/`
//! ([`reduce`] makes them, `gen-test-schemas` writes them, [`drift`] checks them against the
//! originals when those are at hand), so nothing outside the repository is read. A schema is
//! addressed by a JSON pointer into the document (`#/components/schemas/Company`), and `$ref`s
//! resolve within the same document.

use std::path::Path;

use serde_json::Value;

pub use jsonschema::Draft;

pub mod drift;
pub mod reduce;

/// An OpenAPI document ready for validation.
pub struct Spec {
    document: Value,
    name: String,
    draft: jsonschema::Draft,
}

impl Spec {
    /// Loads a committed reduced document by name: `"codat/Codat-Platform"`,
    /// `"bigcommerce/orders.v3"` (the reference document's path without its extension).
    pub fn named(name: &str) -> Self {
        Self::load(&reduce::schemas_dir().join(format!("{name}.json")))
    }

    /// Loads a reduced document (JSON, `nullable` already rewritten).
    pub fn load(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let document = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self { document, name: path.display().to_string(), draft: jsonschema::Draft::Draft4 }
    }

    /// Uses another JSON Schema draft (default: draft 4, as OpenAPI 3.0).
    pub fn with_draft(mut self, draft: jsonschema::Draft) -> Self {
        self.draft = draft;
        self
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
