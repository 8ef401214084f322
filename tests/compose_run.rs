//! Composes the real fixtures with the `wtool` binary and runs the results in wasmtime.

use sha2::{Digest, Sha256};
use wtool_testkit::run::run_command;
use wtool_testkit::wtool::{compose, wtool, wtool_ok};
use wtool_testkit::{fixture, imports};

const RUST_LOGGER_OUTPUT: &str = "rust-logger [info] app started
rust-logger [debug] cache warmed
rust-logger [warn] disk almost full
rust-logger [error] connection lost
logged 4 messages
";

#[test]
fn app_with_rust_logger() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/app.wasm",
        &["components/logger.wasm"],
    );
    assert_eq!(run_command(&bytes), RUST_LOGGER_OUTPUT);
}

#[test]
fn app_with_python_logger() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/app.wasm",
        &["components/py-logger.wasm"],
    );
    assert_eq!(
        run_command(&bytes),
        "py-logger [info] app started
py-logger [debug] cache warmed
py-logger [warn] disk almost full
py-logger [error] connection lost
logged 4 messages
"
    );
    // Rust and Python import different WASI 0.2 patch versions; each interface is imported
    // once, at one version, after the merge.
    let imports = imports(&bytes);
    let mut bases: Vec<&str> = imports
        .iter()
        .map(|i| i.split('@').next().unwrap())
        .collect();
    let total = bases.len();
    bases.dedup();
    bases.sort();
    bases.dedup();
    assert_eq!(
        bases.len(),
        total,
        "duplicate imports after merging: {imports:?}"
    );
}

/// The output of `app` plugged with a logger whose lines start with `name`.
fn logger_output(name: &str) -> String {
    RUST_LOGGER_OUTPUT.replace("rust-logger [", &format!("{name} ["))
}

/// Every interface is imported once, at one version, and nothing but WASI is left to the host.
fn assert_only_wasi_imports_once(bytes: &[u8]) {
    let imports = imports(bytes);
    let mut bases: Vec<&str> = imports
        .iter()
        .map(|i| i.split('@').next().unwrap())
        .collect();
    bases.sort();
    let total = bases.len();
    bases.dedup();
    assert_eq!(bases.len(), total, "duplicate imports: {imports:?}");
    assert!(
        imports.iter().all(|i| i.starts_with("wasi:")),
        "non-WASI imports left: {imports:?}"
    );
}

/// componentize-js (StarlingMonkey) imports `wasi:http` even though the logger never makes a
/// request; those imports stay with the host, which links wasmtime-wasi-http.
#[test]
fn app_with_javascript_logger() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/app.wasm",
        &["components/js-logger.wasm"],
    );
    assert_eq!(run_command(&bytes), logger_output("js-logger"));
    let imports = imports(&bytes);
    for http in ["wasi:http/types@", "wasi:http/outgoing-handler@"] {
        assert!(
            imports.iter().any(|i| i.starts_with(http)),
            "{http} is not left to the host: {imports:?}"
        );
    }
    assert_only_wasi_imports_once(&bytes);
}

#[test]
fn app_with_middleware_and_javascript_logger() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/app.wasm",
        &["components/middleware.wasm", "components/js-logger.wasm"],
    );
    assert_eq!(
        run_command(&bytes),
        "js-logger [info] [mw] app started
js-logger [warn] [mw] disk almost full
js-logger [error] [mw] connection lost
logged 3 messages
"
    );
    assert_only_wasi_imports_once(&bytes);
}

/// A logger in C: wit-bindgen's C bindings, clang for wasip1, and the preview1 adapter.
#[test]
fn app_with_c_logger() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/app.wasm",
        &["components/c-logger.wasm"],
    );
    assert_eq!(run_command(&bytes), logger_output("c-logger"));
    assert_only_wasi_imports_once(&bytes);
}

/// A logger in standard Go (wasip1 c-shared, `//go:wasmexport`), componentized with the
/// preview1 adapter; the adapter's memory is an arena inside the Go module.
#[test]
fn app_with_go_logger() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/app.wasm",
        &["components/go-logger.wasm"],
    );
    assert_eq!(run_command(&bytes), logger_output("go-logger"));
    assert_only_wasi_imports_once(&bytes);
}

/// The Rust middleware between the app and the Go logger.
#[test]
fn app_with_middleware_and_go_logger() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/app.wasm",
        &["components/middleware.wasm", "components/go-logger.wasm"],
    );
    assert_eq!(
        run_command(&bytes),
        "go-logger [info] [mw] app started
go-logger [warn] [mw] disk almost full
go-logger [error] [mw] connection lost
logged 3 messages
"
    );
}

/// A Go command as the socket: its `//go:wasmimport` logger import is filled by the plug.
#[test]
fn go_app_with_rust_logger() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/go-app.wasm",
        &["components/logger.wasm"],
    );
    assert_eq!(run_command(&bytes), RUST_LOGGER_OUTPUT);
    assert_only_wasi_imports_once(&bytes);
}

/// Two Go runtimes in one composition, each with its own memory and adapter.
#[test]
fn go_app_with_go_logger() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/go-app.wasm",
        &["components/go-logger.wasm"],
    );
    assert_eq!(run_command(&bytes), logger_output("go-logger"));
    assert_only_wasi_imports_once(&bytes);
}

#[test]
fn go_app_with_middleware_and_c_logger() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/go-app.wasm",
        &["components/middleware.wasm", "components/c-logger.wasm"],
    );
    assert_eq!(
        run_command(&bytes),
        "c-logger [info] [mw] app started
c-logger [warn] [mw] disk almost full
c-logger [error] [mw] connection lost
logged 3 messages
"
    );
}

#[test]
fn app_with_middleware_and_logger() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/app.wasm",
        &["components/middleware.wasm", "components/logger.wasm"],
    );
    assert_eq!(
        run_command(&bytes),
        "rust-logger [info] [mw] app started
rust-logger [warn] [mw] disk almost full
rust-logger [error] [mw] connection lost
logged 3 messages
"
    );
}

#[test]
fn app_with_newer_patch_logger() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/app.wasm",
        &["components/logger-0.1.3.wasm"],
    );
    assert_eq!(
        run_command(&bytes),
        RUST_LOGGER_OUTPUT.replace("rust-logger [", "rust-logger@0.1.3 [")
    );
}

#[test]
fn resources_cross_the_plug_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/counter-app.wasm",
        &["components/counter-provider.wasm"],
    );
    assert_eq!(run_command(&bytes), "counter is 42\n");
}

/// A span made in the provider is handed out by the middleware and used in the app: the
/// resource crosses two boundaries, and the middleware's `factory` interface `use`s a type of
/// the `spans` interface that another plug exports.
#[test]
fn a_resource_crosses_a_middleware_and_a_used_type_comes_from_another_plug() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/spans-app.wasm",
        &[
            "components/spans-middleware.wasm",
            "components/spans-provider.wasm",
        ],
    );
    assert_eq!(
        run_command(&bytes),
        "request: opened by the middleware
request: handled by the app
direct: made by the app
the middleware opened 1 span(s)
"
    );
}

/// The same crossing, with the `use` across packages: `example:tracing/traces` returns the
/// `span` of `example:spans/spans`, which the middleware imports and another plug exports.
#[test]
fn a_type_used_from_another_package_comes_from_another_plug() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/tracing-app.wasm",
        &[
            "components/tracing-middleware.wasm",
            "components/spans-provider.wasm",
        ],
    );
    assert_eq!(
        run_command(&bytes),
        "job: started by the tracing middleware
job: run by the app
the tracing middleware started 1 span(s)
"
    );
}

#[test]
fn output_is_deterministic_and_independent_of_paths() {
    let first = tempfile::tempdir().unwrap();
    let a = compose(
        first.path(),
        "components/app.wasm",
        &["components/middleware.wasm", "components/logger.wasm"],
    );
    // The same inputs copied elsewhere, under other directory names, give the same bytes.
    let second = tempfile::tempdir().unwrap();
    let copies = second.path().join("elsewhere");
    std::fs::create_dir(&copies).unwrap();
    for name in ["app", "middleware", "logger"] {
        std::fs::copy(
            fixture(&format!("components/{name}.wasm")),
            copies.join(format!("{name}.wasm")),
        )
        .unwrap();
    }
    let out = second.path().join("out.wasm");
    let output = wtool([
        "compose".as_ref(),
        copies.join("app.wasm").as_os_str(),
        "--plug".as_ref(),
        copies.join("middleware.wasm").as_os_str(),
        "--plug".as_ref(),
        copies.join("logger.wasm").as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert!(output.status.success());
    assert!(a == std::fs::read(out).unwrap(), "outputs differ");
}

#[test]
fn provenance_records_every_input_digest() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = compose(
        dir.path(),
        "components/app.wasm",
        &["components/logger.wasm"],
    );
    let mut provenance = None;
    let mut producers = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let wasmparser::Payload::CustomSection(section) = payload.unwrap() {
            match section.name() {
                "wtool-provenance" => provenance = Some(section.data().to_vec()),
                "producers" => producers.push(section.data().to_vec()),
                _ => {}
            }
        }
    }
    let provenance: serde_json::Value = serde_json::from_slice(&provenance.unwrap()).unwrap();
    for (i, name) in ["app", "logger"].iter().enumerate() {
        let input = std::fs::read(fixture(&format!("components/{name}.wasm"))).unwrap();
        let digest = hex(&Sha256::digest(&input));
        assert_eq!(provenance["inputs"][i]["sha256"], digest.as_str());
        assert_eq!(provenance["inputs"][i]["file"], format!("{name}.wasm"));
    }
    assert!(
        producers
            .iter()
            .any(|p| p.windows(5).any(|w| w == b"wtool")),
        "no producers section names wtool"
    );
}

#[test]
fn a_failed_compose_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("composed.wasm");
    let output = wtool([
        "compose".as_ref(),
        fixture("components/app.wasm").as_os_str(),
        "--plug".as_ref(),
        fixture("edge/no-match-plug.wasm").as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert!(!output.status.success());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_wac_document_gives_the_same_component_as_plugs() {
    let dir = tempfile::tempdir().unwrap();
    let plugged = compose(
        dir.path(),
        "components/app.wasm",
        &["components/middleware.wasm", "components/logger.wasm"],
    );
    let out = dir.path().join("from-wac.wasm");
    let dep = |name: &str, file: &str| format!("--dep=example:{name}={}", fixture(file).display());
    wtool_ok(&[
        "compose".to_string(),
        fixture("wac/app.wac").display().to_string(),
        dep("logger", "components/logger.wasm"),
        dep("middleware", "components/middleware.wasm"),
        dep("app", "components/app.wasm"),
        "-o".into(),
        out.display().to_string(),
    ]);
    let from_wac = std::fs::read(&out).unwrap();
    assert_eq!(run_command(&from_wac), run_command(&plugged));

    let wit = |path: &std::path::Path| {
        let out = wtool(["inspect".as_ref(), path.as_os_str(), "--wit".as_ref()]);
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let plugged_path = dir.path().join("plugged.wasm");
    std::fs::write(&plugged_path, &plugged).unwrap();
    let world = |text: String| -> Vec<String> {
        // The package line names the input file; the world's items are what must agree.
        let mut items: Vec<String> = text
            .lines()
            .filter(|l| {
                l.trim_start().starts_with("import ") || l.trim_start().starts_with("export ")
            })
            .map(|l| l.trim().to_string())
            .collect();
        items.sort();
        items
    };
    let (a, b) = (world(wit(&plugged_path)), world(wit(&out)));
    assert!(!a.is_empty());
    assert_eq!(a, b);
}

/// A WAC document whose packages come from a deps directory (`fixtures/wac/calc.wac`):
/// composed, `answer` calls the `add` of the other component and returns 42.
#[test]
fn wac_document_from_a_deps_directory_composes_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("composed.wasm");
    wtool_ok(&[
        "compose".as_ref(),
        fixture("wac/calc.wac").as_os_str(),
        "--deps-dir".as_ref(),
        fixture("wac/deps").as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    let bytes = std::fs::read(&out).unwrap();
    assert!(imports(&bytes).is_empty(), "{:?}", imports(&bytes));

    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::from_binary(&engine, &bytes).unwrap();
    let linker = wasmtime::component::Linker::<()>::new(&engine);
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &component).unwrap();
    let answer = instance
        .get_typed_func::<(), (u32,)>(&mut store, "answer")
        .unwrap();
    assert_eq!(answer.call(&mut store, ()).unwrap(), (42,));
}

/// `compose` with the fixtures under `components/`, a middleware and a Rust logger of each
/// version, and `extra` flags; returns the component.
fn compose_wired(dir: &std::path::Path, extra: &[&str]) -> Vec<u8> {
    let out = dir.join("wired.wasm");
    let mut args = vec!["compose".to_string(), component("app")];
    for plug in ["logger", "middleware", "logger-0.1.3"] {
        args.push("--plug".into());
        args.push(component(plug));
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend(["-o".to_string(), out.display().to_string()]);
    wtool_ok(&args);
    std::fs::read(out).unwrap()
}

fn component(name: &str) -> String {
    fixture(&format!("components/{name}.wasm"))
        .display()
        .to_string()
}

const WIRES: [&str; 4] = [
    "--wire",
    "app:example:logging/logger@0.1.0=middleware",
    "--wire",
    "middleware:logger=logger-0.1.3",
];

/// Two loggers export the same interface. Without `--wire` the app takes the first, exact
/// one directly; wired, the middleware fills the app and the newer logger the middleware.
#[test]
fn wires_choose_which_logger_fills_which_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let plain = compose_wired(dir.path(), &[]);
    assert_eq!(run_command(&plain), RUST_LOGGER_OUTPUT);

    let wired = compose_wired(dir.path(), &WIRES);
    assert_eq!(
        run_command(&wired),
        "rust-logger@0.1.3 [info] [mw] app started
rust-logger@0.1.3 [warn] [mw] disk almost full
rust-logger@0.1.3 [error] [mw] connection lost
logged 3 messages
"
    );
}

/// The other logger is instantiated too when the composition re-exports it.
#[test]
fn an_exported_plug_is_instantiated_beside_the_wired_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut flags = WIRES.to_vec();
    flags.extend(["--export", "logger#logger"]);
    let bytes = compose_wired(dir.path(), &flags);
    let mut exports = Vec::new();
    let mut depth = 0;
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        match payload.unwrap() {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth -= 1,
            wasmparser::Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    exports.push(export.unwrap().name.name.to_string());
                }
            }
            _ => {}
        }
    }
    assert!(
        exports.iter().any(|e| e == "example:logging/logger@0.1.0"),
        "{exports:?}"
    );
    assert!(run_command(&bytes).starts_with("rust-logger@0.1.3 [info] [mw]"));
}

/// `--emit-wac` prints a document that composes to the very bytes of its command line. (Every
/// plug is used: a document has no place for one that is not, so its digest would be missing
/// from the provenance section.)
#[test]
fn the_emitted_wac_document_composes_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut flags = WIRES.to_vec();
    flags.extend(["--export", "logger#logger"]);
    let wired = compose_wired(dir.path(), &flags);

    let mut args = vec!["compose".to_string(), component("app")];
    for plug in ["logger", "middleware", "logger-0.1.3"] {
        args.push("--plug".into());
        args.push(component(plug));
    }
    args.extend(flags.iter().map(|a| a.to_string()));
    args.push("--emit-wac".into());
    let document = String::from_utf8(wtool_ok(&args).stdout).unwrap();
    let doc = dir.path().join("wired.wac");
    std::fs::write(&doc, &document).unwrap();

    // The header says how to compose it.
    let deps: Vec<String> = document
        .lines()
        .find_map(|l| l.strip_prefix("// Compose it with: wtool compose FILE.wac "))
        .expect("the document says how to compose it")
        .split(" --dep ")
        .map(|d| d.trim_start_matches("--dep ").to_string())
        .collect();
    let out = dir.path().join("from-wac.wasm");
    let mut args = vec!["compose".to_string(), doc.display().to_string()];
    for dep in deps {
        args.push(format!("--dep={dep}"));
    }
    args.extend(["-o".to_string(), out.display().to_string()]);
    wtool_ok(&args);
    let from_wac = std::fs::read(&out).unwrap();
    assert!(from_wac == wired, "the document composes to other bytes");
}

#[test]
fn one_middleware_at_three_places_in_a_chain_is_embedded_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("chain.wasm");
    let iface = "example:logging/logger@0.1.0";
    let mw = fixture("components/middleware.wasm");
    let mut args = vec![
        "compose".to_string(),
        fixture("components/app.wasm").display().to_string(),
        "--plug".into(),
        format!("logger={}", fixture("components/logger.wasm").display()),
        "--wire".into(),
        format!("app:{iface}=mw1"),
    ];
    for i in 1..=3 {
        let next = if i == 3 {
            "logger".to_string()
        } else {
            format!("mw{}", i + 1)
        };
        args.extend([
            "--plug".into(),
            format!("mw{i}={}", mw.display()),
            "--wire".into(),
            format!("mw{i}:{iface}={next}"),
        ]);
    }
    args.extend(["-o".into(), out.display().to_string()]);
    wtool_ok(&args);
    let bytes = std::fs::read(&out).unwrap();
    let one = std::fs::read(&mw).unwrap().len();
    let app = std::fs::read(fixture("components/app.wasm")).unwrap().len();
    let logger = std::fs::read(fixture("components/logger.wasm"))
        .unwrap()
        .len();
    assert!(
        bytes.len() < app + logger + one + one / 2,
        "{} bytes: the middleware is embedded more than once ({one} bytes each)",
        bytes.len()
    );
    // Three instances all the same, each with its own place in the chain.
    assert_eq!(
        run_command(&bytes),
        "rust-logger [info] [mw] [mw] [mw] app started
rust-logger [warn] [mw] [mw] [mw] disk almost full
rust-logger [error] [mw] [mw] [mw] connection lost
logged 3 messages
"
    );
}
