//! The test kit shared by wtool's tests and examples: the real `wtool` and `wtool-registry`
//! binaries (a registry on `127.0.0.1:0`, wtool isolated from the user's config, keys and
//! cache), test components built in memory, and a wasmtime runner (feature `run`).
//!
//! Every process it starts is killed when its handle drops, so a failing test leaves no server
//! behind; every directory it makes is a temporary one.

pub mod component;
pub mod oci;
pub mod project;
pub mod registry;
#[cfg(feature = "run")]
pub mod run;
pub mod services;
pub mod tmpfs;
#[cfg(feature = "warg")]
pub mod warg;
pub mod wtool;

use std::path::{Path, PathBuf};

/// The workspace root. Found at run time from the package under test (`CARGO_MANIFEST_DIR`):
/// a warm target directory shared by clones at different paths can hand a test a binary
/// compiled in another clone, whose compile-time paths may be gone.
pub fn root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(&start)
        .to_path_buf()
}

/// A file under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

/// A binary of the workspace in cargo's target directory, beside the `deps/` (or `examples/`)
/// directory that holds the running test. `cargo test --workspace` builds each of them,
/// because each binary's package has tests of its own.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let dir = exe.parent().and_then(Path::parent).expect("a target dir");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, or build it first \
         (`cargo build -p {name}`; each binary's package has its name)",
        path.display()
    );
    path
}

/// Top-level import names of a component.
pub fn imports(bytes: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.expect("a readable component") {
            wasmparser::Payload::ComponentImportSection(reader) => {
                for import in reader {
                    names.push(import.expect("a readable import").name.name.to_string());
                }
            }
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => break,
            _ => {}
        }
    }
    names
}

/// Copies a directory tree (fixtures into a scratch project).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `dir` with its bytes, sorted, for before/after comparisons.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}
