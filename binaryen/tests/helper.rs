//! The helper as wtool runs it: a `wasm-opt` command line on files.

use std::process::Command;

const HELPER: &str = env!("CARGO_BIN_EXE_wtool-binaryen");

#[test]
fn optimizes_a_module_into_a_valid_smaller_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.wasm");
    let output = dir.path().join("out.wasm");
    let module = wat::parse_str(
        r#"(module
             (func $unused (result i32) i32.const 1 i32.const 2 i32.add)
             (func (export "f") (result i32) i32.const 40 i32.const 2 i32.add))"#,
    )
    .unwrap();
    std::fs::write(&input, &module).unwrap();
    let run = Command::new(HELPER)
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .arg("-Oz")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let optimized = std::fs::read(&output).unwrap();
    wasmparser::Validator::new()
        .validate_all(&optimized)
        .expect("binaryen's output validates");
    assert!(optimized.len() < module.len(), "{} bytes", optimized.len());
}

#[test]
fn bad_input_is_an_error_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.wasm");
    std::fs::write(&input, b"not wasm").unwrap();
    let run = Command::new(HELPER)
        .arg(&input)
        .arg("-o")
        .arg(dir.path().join("out.wasm"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(!String::from_utf8_lossy(&run.stderr).trim().is_empty());
    assert!(!dir.path().join("out.wasm").exists());
}
