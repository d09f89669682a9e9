//! Drift checks: the committed, generated files are what their generators make of the reference
//! documents (when those are at hand; otherwise each check says it skipped).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use testkit::drift::{Reference, first_difference, reference, repo_root, say_skipped, stale_schema};
use testkit::reduce::{DOCUMENTS, output_name, schemas_dir};

const REGENERATE: &str =
    "run `cargo run -p testkit --bin gen-test-schemas` (tools/testkit/src/bin/gen-test-schemas.rs)";

fn files_under(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("schemas folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, base, out);
        } else {
            out.insert(path.strip_prefix(base).expect("under base").to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_validation_schema_is_committed_and_nothing_else() {
    let mut present = BTreeSet::new();
    files_under(&schemas_dir(), &schemas_dir(), &mut present);
    let expected: BTreeSet<String> = DOCUMENTS.iter().map(|d| output_name(d)).collect();
    assert_eq!(present, expected, "tools/testkit/schemas: {REGENERATE}");
}

#[test]
fn the_validation_schemas_are_what_the_generator_makes_of_the_reference() {
    let dir = match reference() {
        Reference::Present(dir) => dir,
        Reference::Absent(dir) => return say_skipped("tools/testkit/schemas", &dir),
    };
    let stale: Vec<String> = DOCUMENTS.iter().filter_map(|d| stale_schema(&schemas_dir(), &dir, d)).collect();
    assert!(stale.is_empty(), "{}\n{REGENERATE}", stale.join("\n"));
}

#[test]
fn a_schema_edited_by_hand_is_caught() {
    let dir = match reference() {
        Reference::Present(dir) => dir,
        Reference::Absent(dir) => return say_skipped("a hand-edited schema", &dir),
    };
    let copy = std::env::temp_dir().join(format!("testkit-drift-{}", std::process::id()));
    let document = "bigcommerce/orders.v3.yml";
    let name = output_name(document);
    let target = copy.join(&name);
    std::fs::create_dir_all(target.parent().expect("parent")).expect("temp dir");
    let text = std::fs::read_to_string(schemas_dir().join(&name)).expect("committed schema");
    assert_eq!(stale_schema(&schemas_dir(), &dir, document), None, "{REGENERATE}");
    std::fs::write(&target, text.replacen("\"string\"", "\"integer\"", 1)).expect("write edited copy");
    let found = stale_schema(&copy, &dir, document);
    std::fs::remove_dir_all(&copy).expect("clean up");
    assert!(found.as_deref().is_some_and(|f| f.contains("differs")), "{found:?}");
}

#[test]
fn the_query_schemas_are_what_the_generator_makes_of_codat_s_spec() {
    let dir = match reference() {
        Reference::Present(dir) => dir,
        Reference::Absent(dir) => return say_skipped("shared/src/codat/commerce_fields.rs", &dir),
    };
    let root = repo_root();
    let output = Command::new("python3")
        .arg(root.join("tools/gen-commerce-fields.py"))
        .arg(dir.join("codat/Codat-Commerce.json"))
        .output()
        .expect("python3 runs the generator");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let committed = std::fs::read_to_string(root.join("shared/src/codat/commerce_fields.rs")).expect("fields.rs");
    let generated = String::from_utf8_lossy(&output.stdout);
    assert!(
        first_difference(&generated, &committed).is_none(),
        "shared/src/codat/commerce_fields.rs is stale at line {:?}: run tools/gen-commerce-fields.py (see its docstring)",
        first_difference(&generated, &committed)
    );
}

#[test]
fn first_difference_names_the_line() {
    assert_eq!(first_difference("a\nb\nc\n", "a\nb\nc\n"), None);
    assert_eq!(first_difference("a\nb\nc\n", "a\nx\nc\n"), Some(2));
    assert_eq!(first_difference("a\nb\n", "a\nb\nc\n"), Some(3));
}
