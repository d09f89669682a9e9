//! Writes the reduced validation schemas the tests use into `tools/testkit/schemas/`.
//!
//! Usage: `cargo run -p testkit --bin gen-test-schemas [REFERENCE_DIR]` (default: `REFERENCE_DIR`,
//! else `../shared/reference` beside the repository). See `testkit::reduce`.

use std::path::PathBuf;
use std::process::ExitCode;

use testkit::drift::{Reference, reference};
use testkit::reduce::{DOCUMENTS, output_name, parse, reduce_to_text, schemas_dir};

fn main() -> ExitCode {
    let dir = match std::env::args_os().nth(1).map(PathBuf::from) {
        Some(dir) => dir,
        None => match reference() {
            Reference::Present(dir) => dir,
            Reference::Absent(dir) => {
                eprintln!("no reference documents in {}: pass the folder or set REFERENCE_DIR", dir.display());
                return ExitCode::FAILURE;
            }
        },
    };
    for document in DOCUMENTS {
        let text = match parse(&dir.join(document)).and_then(|value| reduce_to_text(&value)) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("{document}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let out = schemas_dir().join(output_name(document));
        let written = out.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&out, &text));
        if let Err(e) = written {
            eprintln!("{}: {e}", out.display());
            return ExitCode::FAILURE;
        }
        println!("{} ({} bytes)", out.display(), text.len());
    }
    ExitCode::SUCCESS
}
