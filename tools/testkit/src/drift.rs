//! Whether committed, generated files still match the reference documents they come from.
//!
//! The reference documents (Codat's and BigCommerce's OpenAPI specs) are not part of the
//! repository: they are found in `REFERENCE_DIR`, else in `../shared/reference` beside the
//! repository. When they are absent, a drift check says so and compares nothing; with
//! `REFERENCE_REQUIRED=1` their absence is a failure instead (CI's drift step).

use std::io::Write;
use std::path::PathBuf;

use crate::reduce::DOCUMENTS;

/// Where the reference documents are, if they are.
pub enum Reference {
    /// Every document of [`DOCUMENTS`] is in this folder.
    Present(PathBuf),
    /// None is; the folder that was looked at.
    Absent(PathBuf),
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Looks for the reference documents. Panics when only some are there (a broken reference
/// folder must not pass as an absent one), or when none are and `REFERENCE_REQUIRED=1`.
pub fn reference() -> Reference {
    let dir =
        std::env::var_os("REFERENCE_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("../shared/reference"));
    let missing: Vec<&str> = DOCUMENTS.iter().copied().filter(|d| !dir.join(d).is_file()).collect();
    if missing.is_empty() {
        return Reference::Present(dir);
    }
    assert!(missing.len() == DOCUMENTS.len(), "{} holds some reference documents but not {missing:?}", dir.display());
    assert!(
        std::env::var("REFERENCE_REQUIRED").as_deref() != Ok("1"),
        "REFERENCE_REQUIRED=1 but {} holds no reference documents",
        dir.display()
    );
    Reference::Absent(dir)
}

/// Says, past the test harness's output capture, that a drift check compared nothing.
pub fn say_skipped(what: &str, dir: &std::path::Path) {
    let line = format!(
        "drift check SKIPPED, nothing compared: {what}: no reference documents in {} (set REFERENCE_DIR)\n",
        dir.display()
    );
    // Written to the process's stderr, not through `eprintln!`, so a passing test still shows it.
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// How the committed reduction of `document` (under `schemas`) differs from what the generator
/// makes of the reference copy in `reference`: `None` when they are the same.
pub fn stale_schema(schemas: &std::path::Path, reference: &std::path::Path, document: &str) -> Option<String> {
    let expected = match crate::reduce::parse(&reference.join(document)).and_then(|v| crate::reduce::reduce_to_text(&v))
    {
        Ok(text) => text,
        Err(e) => return Some(format!("{document}: cannot be reduced: {e}")),
    };
    let path = schemas.join(crate::reduce::output_name(document));
    let committed = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    first_difference(&expected, &committed)
        .map(|line| format!("{} differs from the generator's output at line {line}", path.display()))
}

/// The first line (from 1) where `a` and `b` differ, or `None` when they are equal.
pub fn first_difference(a: &str, b: &str) -> Option<usize> {
    if a == b {
        return None;
    }
    let mut lines = a.lines().zip(b.lines()).enumerate();
    Some(lines.find(|(_, (x, y))| x != y).map_or_else(|| a.lines().count().min(b.lines().count()), |(i, _)| i) + 1)
}
