//! Optimizes real compositions with the `wtool` binary, and checks that each output validates,
//! is smaller, and prints in wasmtime exactly what its input printed.

use std::collections::HashSet;
use std::path::Path;
use wtool_testkit::fixture;
use wtool_testkit::run::run_command;
use wtool_testkit::wtool::{compose, wtool, wtool_ok};

/// Runs `wtool optimize INPUT -o OUT --json ARGS` and returns the output and the report.
fn optimize(input: &Path, out: &Path, args: &[&str]) -> (Vec<u8>, serde_json::Value) {
    let mut all = vec![
        "optimize".to_string(),
        input.display().to_string(),
        "-o".into(),
        out.display().to_string(),
        "--json".into(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let output = wtool_ok(&all);
    let report = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
    (std::fs::read(out).unwrap(), report)
}

fn validate_default(bytes: &[u8]) {
    wasmparser::Validator::new()
        .validate_all(bytes)
        .expect("the optimized component validates with the default features");
}

/// The bytes of every core module, at every depth.
fn modules(bytes: &[u8]) -> Vec<Vec<u8>> {
    wasmparser::Parser::new(0)
        .parse_all(bytes)
        .filter_map(|p| match p.unwrap() {
            wasmparser::Payload::ModuleSection {
                unchecked_range, ..
            } => Some(bytes[unchecked_range.start as usize..unchecked_range.end as usize].to_vec()),
            _ => None,
        })
        .collect()
}

fn assert_no_two_modules_alike(bytes: &[u8]) {
    let all = modules(bytes);
    let distinct: HashSet<&Vec<u8>> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a core module is embedded twice");
}

/// Composes, runs, optimizes at `level`, and checks the optimized component against the input.
fn check(socket: &str, plugs: &[&str], level: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let composed = compose(dir.path(), socket, plugs);
    let printed = run_command(&composed);
    let (optimized, report) = optimize(
        &dir.path().join("composed.wasm"),
        &dir.path().join("optimized.wasm"),
        &[level],
    );
    validate_default(&optimized);
    assert!(
        optimized.len() < composed.len(),
        "not smaller: {} → {} bytes",
        composed.len(),
        optimized.len()
    );
    assert_eq!(report["size_before"], composed.len());
    assert_eq!(report["size_after"], optimized.len());
    assert_eq!(run_command(&optimized), printed);
    assert_no_two_modules_alike(&optimized);
    report
}

#[test]
fn app_with_rust_logger() {
    let report = check("components/app.wasm", &["components/logger.wasm"], "-Os");
    let modules = report["modules"].as_array().unwrap();
    assert!(
        modules.iter().all(|m| m["status"] == "optimized"),
        "{report:#}"
    );
    // The Rust modules' DWARF is stale once binaryen rewrites the code.
    let stripped = report["stripped"].as_array().unwrap();
    assert!(
        stripped.iter().any(|s| s["name"] == ".debug_info"),
        "{report:#}"
    );
}

#[test]
fn app_with_python_logger() {
    check("components/app.wasm", &["components/py-logger.wasm"], "-O1");
}

#[test]
fn app_with_middleware_and_logger() {
    let report = check(
        "components/app.wasm",
        &["components/middleware.wasm", "components/logger.wasm"],
        "-Oz",
    );
    // Middleware and logger were built by the same toolchain: their small adapter modules
    // are identical, and one copy of each is kept.
    let dups = report["deduplicated"].as_array().unwrap();
    assert!(
        dups.iter().any(|d| d["kind"] == "core-module"),
        "nothing deduplicated: {report:#}"
    );
}

#[test]
fn compose_with_optimize_runs_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let plain = compose(
        dir.path(),
        "components/app.wasm",
        &["components/logger.wasm"],
    );
    let out = dir.path().join("optimized.wasm");
    wtool_ok(&[
        "compose".as_ref(),
        fixture("components/app.wasm").as_os_str(),
        "--plug".as_ref(),
        fixture("components/logger.wasm").as_os_str(),
        "--optimize=z".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    let optimized = std::fs::read(&out).unwrap();
    validate_default(&optimized);
    assert!(optimized.len() < plain.len());
    assert_eq!(run_command(&optimized), run_command(&plain));
}

#[test]
fn optimized_output_is_deterministic_and_independent_of_paths() {
    let first = tempfile::tempdir().unwrap();
    compose(
        first.path(),
        "components/app.wasm",
        &["components/middleware.wasm", "components/logger.wasm"],
    );
    let (a, _) = optimize(
        &first.path().join("composed.wasm"),
        &first.path().join("optimized.wasm"),
        &["-Oz"],
    );
    // The same input under another name in another directory, optimized again: modules are
    // optimized in parallel, and neither their order of completion nor a path shows.
    let second = tempfile::tempdir().unwrap();
    let moved = second.path().join("elsewhere").join("renamed input.wasm");
    std::fs::create_dir(moved.parent().unwrap()).unwrap();
    std::fs::copy(first.path().join("composed.wasm"), &moved).unwrap();
    let (b, _) = optimize(&moved, &second.path().join("out.wasm"), &["-Oz"]);
    assert!(
        a == b,
        "optimized outputs differ: {} and {} bytes",
        a.len(),
        b.len()
    );
}

/// Instantiates a component with nothing from the host and calls `name: func() -> u32`.
fn call_u32(bytes: &[u8], name: &str) -> u32 {
    use wasmtime::component::{Component, Linker};
    let engine = wasmtime::Engine::default();
    let component = Component::from_binary(&engine, bytes).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &component)
        .unwrap();
    let func = instance
        .get_typed_func::<(), (u32,)>(&mut store, name)
        .unwrap();
    func.call(&mut store, ()).unwrap().0
}

#[test]
fn the_same_module_embedded_twice_comes_out_once() {
    let source = fixture("edge/twin-modules.wat");
    let input = wat::parse_file(&source).unwrap();
    assert_eq!(modules(&input).len(), 3);
    let dir = tempfile::tempdir().unwrap();
    let (optimized, report) = optimize(&source, &dir.path().join("out.wasm"), &[]);
    validate_default(&optimized);
    assert_eq!(modules(&optimized).len(), 2, "{report:#}");
    assert_no_two_modules_alike(&optimized);
    for export in ["left", "right"] {
        assert_eq!(call_u32(&input, export), 42);
        assert_eq!(
            call_u32(&optimized, export),
            42,
            "{export} after optimizing"
        );
    }
    assert_eq!(report["deduplicated"][0]["kind"], "core-module");
}

#[test]
fn a_module_binaryen_cannot_read_passes_through_unchanged() {
    let source = fixture("edge/wide-arithmetic.wat");
    let input = wat::parse_file(&source).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (optimized, report) = optimize(&source, &dir.path().join("out.wasm"), &[]);
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&optimized)
        .unwrap();
    assert_eq!(modules(&optimized), modules(&input));
    assert_eq!(report["modules"][0]["status"], "unchanged");
    let note = report["modules"][0]["note"].as_str().unwrap();
    assert!(note.contains("wide-arithmetic"), "{note}");
}

#[test]
fn invalid_input_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.wasm");
    for bad in [
        "edge/truncated.wasm",
        "edge/random.bin.wasm",
        "edge/wit-package.wasm",
    ] {
        let output = wtool([
            "optimize".as_ref(),
            fixture(bad).as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ]);
        assert!(!output.status.success(), "{bad} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: "), "{bad}: {stderr}");
        assert!(!stderr.contains("panicked"), "{bad}: {stderr}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{bad}: files left behind: {left:?}");
    }
}
