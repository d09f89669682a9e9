//! Validates live responses against the schemas of Codat's Platform OpenAPI spec
//! (its reduced copy in `tools/testkit/schemas/codat/`).

use std::sync::OnceLock;

use serde_json::{Value, json};
use testkit::{Draft, Spec};

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec::named("codat/Codat-Platform").with_draft(Draft::Draft7))
}

/// Asserts that `instance` is valid against the spec's `components/schemas/<name>`.
pub fn assert_valid(name: &str, instance: &Value) {
    spec().assert_valid(&format!("#/components/schemas/{name}"), instance);
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
    assert_eq!(spec().errors("#/components/schemas/Connection", &bad).len(), 2, "enum and additionalProperties");
}
