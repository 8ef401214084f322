use super::*;
use wasmparser::{Parser, Payload};

fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("test WAT parses")
}

/// binaryen in this process, through the `wasm-opt` crate's reading of the same command line
/// `wtool-binaryen` takes.
#[derive(Debug)]
struct InProcess;

impl WasmOpt for InProcess {
    fn run(&self, args: &[std::ffi::OsString]) -> Result<(), String> {
        let mut command = wasm_opt::integration::Command::new("wasm-opt");
        command.args(args);
        wasm_opt::integration::run_from_command_args(command).map_err(|e| e.to_string())
    }
}

fn options() -> OptimizeOptions {
    OptimizeOptions::new(Arc::new(InProcess))
}

fn run(bytes: &[u8], options: &OptimizeOptions) -> Optimized {
    optimize("input.wasm", bytes, options).expect("optimizes")
}

/// Core module sections at every depth.
fn module_sections(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::ModuleSection {
            unchecked_range, ..
        } = payload.unwrap()
        {
            found
                .push(bytes[unchecked_range.start as usize..unchecked_range.end as usize].to_vec());
        }
    }
    found
}

fn custom_sections(bytes: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::CustomSection(s) = payload.unwrap() {
            names.push(s.name().to_string());
        }
    }
    names
}

fn valid(bytes: &[u8]) {
    wasmparser::Validator::new_with_features(WasmFeatures::all())
        .validate_all(bytes)
        .expect("output validates");
}

const ANSWER: &str = r#"(func (export "f") (result i32) i32.const 40 i32.const 2 i32.add)"#;

#[test]
fn two_copies_in_one_component_become_one() {
    // Unnamed: a module's own name is part of its bytes.
    let input = wat(&format!(
        r#"(component
            (core module {ANSWER})
            (core module {ANSWER})
            (core instance $ia (instantiate 0))
            (core instance $ib (instantiate 1))
            (core module $use
              (import "a" "f" (func (result i32)))
              (import "b" "f" (func (result i32))))
            (core instance (instantiate $use
              (with "a" (instance $ia))
              (with "b" (instance $ib))))
        )"#
    ));
    assert_eq!(module_sections(&input).len(), 3);
    let out = run(&input, &options());
    valid(&out.bytes);
    assert_eq!(module_sections(&out.bytes).len(), 2);
    assert_eq!(out.report.deduplicated.len(), 1);
    let dup = &out.report.deduplicated[0];
    assert_eq!(dup.location, "core module 1");
    assert_eq!(dup.same_as, "core module 0");
    // Both instances use the one copy, and `$use` moved from index 2 to 1, name and all.
    let printed = wasmprinter::print_bytes(&out.bytes).unwrap();
    assert!(printed.contains("$ib (;1;) (instantiate 0)"), "{printed}");
    assert!(printed.contains("core module $use (;1;)"), "{printed}");
}

#[test]
fn copies_in_sibling_components_move_up_to_their_parent() {
    let input = wat(&format!(
        r#"(component
            (component $x
              (core module $m {ANSWER})
              (core instance (instantiate $m)))
            (component $y
              (core module $other (func (export "g")))
              (core module $m {ANSWER})
              (core instance (instantiate $m))
              (core instance (instantiate $other)))
            (instance (instantiate $x))
            (instance (instantiate $y))
        )"#
    ));
    assert_eq!(module_sections(&input).len(), 3);
    let out = run(&input, &options());
    valid(&out.bytes);
    assert_eq!(module_sections(&out.bytes).len(), 2);
    let printed = wasmprinter::print_bytes(&out.bytes).unwrap();
    assert_eq!(
        printed.matches("alias outer").count(),
        2,
        "both copies refer to the definition moved up:\n{printed}"
    );
    assert_eq!(
        out.report.deduplicated[0].location,
        "core module 1 of component 1"
    );
}

#[test]
fn identical_sibling_components_become_one() {
    let input = wat(&format!(
        r#"(component
            (component (core module {ANSWER}) (core instance (instantiate 0)))
            (component (core module {ANSWER}) (core instance (instantiate 0)))
            (instance (instantiate 0))
            (instance (instantiate 1))
        )"#
    ));
    let out = run(&input, &options());
    valid(&out.bytes);
    assert_eq!(module_sections(&out.bytes).len(), 1);
    assert_eq!(out.report.deduplicated.len(), 1);
    assert_eq!(out.report.deduplicated[0].kind, DuplicateKind::Component);
    let printed = wasmprinter::print_bytes(&out.bytes).unwrap();
    assert!(
        printed.contains("(instance (;1;) (instantiate 0))"),
        "{printed}"
    );
}

#[test]
fn a_module_with_a_feature_binaryen_lacks_passes_through_unchanged() {
    let module = r#"(core module $wide
        (func (export "add") (param i64 i64 i64 i64) (result i64 i64)
          local.get 0 local.get 1 local.get 2 local.get 3 i64.add128))"#;
    let input = wat(&format!(
        "(component {module} (core module $fine {ANSWER}) (core instance (instantiate $wide)) \
         (core instance (instantiate $fine)))"
    ));
    let before = module_sections(&input);
    let out = run(&input, &options());
    valid(&out.bytes);
    let after = module_sections(&out.bytes);
    assert_eq!(
        after[0], before[0],
        "the wide-arithmetic module is untouched"
    );
    let report = &out.report.modules[0];
    assert_eq!(report.status, ModuleStatus::Unchanged);
    assert!(
        report
            .note
            .as_deref()
            .unwrap()
            .contains("`wide-arithmetic`"),
        "{report:?}"
    );
    assert_eq!(out.report.modules[1].status, ModuleStatus::Optimized);
}

#[test]
fn invalid_input_is_refused_naming_the_module() {
    let input = wat(r#"(component (core module (func (result i32) i64.const 0)))"#);
    let err = optimize("bad.wasm", &input, &options())
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("`bad.wasm`"), "{err}");
    assert!(err.contains("core module 0"), "{err}");
}

#[test]
fn garbage_and_wit_packages_are_refused() {
    let err = optimize("x.wasm", b"not wasm at all", &options())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not a WebAssembly file"), "{err}");
}

#[test]
fn a_core_module_is_optimized_and_stamped() {
    let input = wat(&format!(
        r#"(module {ANSWER} (func $unused (result i32) i32.const 7) (@producers (language "wat" "1")))"#
    ));
    let out = run(&input, &options());
    valid(&out.bytes);
    assert!(out.bytes.len() < input.len(), "{} bytes", out.bytes.len());
    let printed = wasmprinter::print_bytes(&out.bytes).unwrap();
    assert!(printed.contains("i32.const 42"), "{printed}");
    assert!(printed.contains("processed-by"), "{printed}");
    assert!(printed.contains("\"wat\""), "{printed}");
}

#[test]
fn strip_all_keeps_only_component_type_and_producers() {
    let input = wat(&format!(
        r#"(component
            (core module $m {ANSWER} (@custom "keep-me-not" "x") (@custom ".debug_info" "y"))
            (core instance (instantiate $m))
            (@custom "component-type:test" "z")
            (@custom "other" "w")
        )"#
    ));
    let debug = run(
        &input,
        &OptimizeOptions {
            strip: Strip::Debug,
            ..options()
        },
    );
    let names = custom_sections(&debug.bytes);
    assert!(names.contains(&"keep-me-not".to_string()), "{names:?}");
    assert!(names.contains(&"other".to_string()), "{names:?}");
    assert!(!names.contains(&".debug_info".to_string()), "{names:?}");

    let all = run(
        &input,
        &OptimizeOptions {
            strip: Strip::All,
            ..options()
        },
    );
    let names = custom_sections(&all.bytes);
    assert!(
        names
            .iter()
            .all(|n| n == "component-type:test" || n == "producers"),
        "{names:?}"
    );
    assert!(names.contains(&"component-type:test".to_string()));
    assert!(names.contains(&"producers".to_string()));
    let stripped: Vec<&str> = all
        .report
        .stripped
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert!(stripped.contains(&"other"), "{stripped:?}");
    assert!(stripped.contains(&"keep-me-not"), "{stripped:?}");
}

#[test]
fn names_survive_with_keep_names() {
    let input = wat(
        r#"(component (core module $m (func $helper (export "f") (result i32) i32.const 1))
            (core instance (instantiate $m)))"#,
    );
    let kept = run(
        &input,
        &OptimizeOptions {
            keep_names: true,
            ..options()
        },
    );
    assert!(wasmprinter::print_bytes(&kept.bytes)
        .unwrap()
        .contains("$helper"));
    let dropped = run(&input, &options());
    assert!(!wasmprinter::print_bytes(&dropped.bytes)
        .unwrap()
        .contains("$helper"));
}

#[test]
fn levels_parse_in_every_spelling() {
    assert_eq!(Level::parse("z"), Some(Level::Oz));
    assert_eq!(Level::parse("O3"), Some(Level::O3));
    assert_eq!(Level::parse("-Os"), Some(Level::Os));
    assert_eq!(Level::parse("5"), None);
    assert_eq!(Level::O2.to_string(), "-O2");
}
