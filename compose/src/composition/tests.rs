use super::*;

/// Imports `log` and `greet`, and exports both functions again.
const SOCKET: &str = r#"(component
    (import "foo:bar/log@0.2.0" (instance $log (export "log" (func))))
    (import "foo:greeter/greet@1.0.0" (instance $greet (export "greet" (func))))
    (alias export $log "log" (func $f))
    (alias export $greet "greet" (func $g))
    (export "run" (func $f))
    (export "greet" (func $g)))"#;

/// Exports `log` as the socket wants it, and `greet` with a result the socket does not expect.
const LOG_AND_BAD_GREET: &str = r#"(component
    (core module $m
        (func (export "f"))
        (func (export "g") (result i32) i32.const 1))
    (core instance $i (instantiate $m))
    (func $f (canon lift (core func $i "f")))
    (func $g (result u32) (canon lift (core func $i "g")))
    (instance $log (export "log" (func $f)))
    (instance $greet (export "greet" (func $g)))
    (export "foo:bar/log@0.2.0" (instance $log))
    (export "foo:greeter/greet@1.0.0" (instance $greet)))"#;

/// Exports `greet` as the socket wants it, on the same semver track.
const GREETER: &str = r#"(component
    (core module $m (func (export "g")))
    (core instance $i (instantiate $m))
    (func $g (canon lift (core func $i "g")))
    (instance $greet (export "greet" (func $g)))
    (export "foo:greeter/greet@1.2.0" (instance $greet)))"#;

fn input(name: &str, wat: &str) -> Input {
    Input {
        name: name.to_string(),
        bytes: wat::parse_str(wat).unwrap(),
        sha256: None,
        instance: None,
    }
}

fn compose_with(
    plugs: &[(&str, &str)],
    options: &ComposeOptions,
) -> Result<Composition, ComposeError> {
    compose(
        input("socket.wasm", SOCKET),
        plugs.iter().map(|(name, wat)| input(name, wat)).collect(),
        options,
    )
}

fn imports(output: &Output) -> Vec<String> {
    import_names(&output.to_vec()).unwrap()
}

#[test]
fn a_mismatch_nothing_else_fills_fails() {
    let err = compose_with(
        &[("both.wasm", LOG_AND_BAD_GREET)],
        &ComposeOptions::default(),
    )
    .err()
    .expect("the mismatched import must not become a host import");
    let ComposeError::TypeMismatch(mismatches) = &err else {
        panic!("unexpected error: {err}");
    };
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    let m = &mismatches[0];
    assert_eq!(
        (
            m.plug.as_str(),
            m.export.as_str(),
            m.consumer.as_str(),
            m.import.as_str()
        ),
        (
            "both.wasm",
            "foo:greeter/greet@1.0.0",
            "socket.wasm",
            "foo:greeter/greet@1.0.0"
        )
    );
    assert_eq!(m.filled_by, None);
    let text = err.to_string();
    assert!(
        text.contains("`foo:greeter/greet@1.0.0` of `both.wasm`"),
        "{text}"
    );
    assert!(text.contains("--leave-to-host"), "{text}");
}

#[test]
fn a_mismatch_another_plug_fills_is_a_warning() {
    let done = compose_with(
        &[("both.wasm", LOG_AND_BAD_GREET), ("greeter.wasm", GREETER)],
        &ComposeOptions::default(),
    )
    .unwrap();
    let report = &done.report;
    assert_eq!(
        report.links,
        [
            Plugged {
                consumer: "socket.wasm".into(),
                import: "foo:bar/log@0.2.0".into(),
                provider: "both.wasm".into(),
                export: "foo:bar/log@0.2.0".into(),
                rule: crate::plan::Rule::ExactName,
            },
            Plugged {
                consumer: "socket.wasm".into(),
                import: "foo:greeter/greet@1.0.0".into(),
                provider: "greeter.wasm".into(),
                export: "foo:greeter/greet@1.2.0".into(),
                rule: crate::plan::Rule::SemverCompatible,
            },
        ]
    );
    assert_eq!(report.mismatches.len(), 1, "{:?}", report.mismatches);
    assert_eq!(
        report.mismatches[0].filled_by.as_deref(),
        Some("greeter.wasm")
    );
    assert!(report.unused_plugs.is_empty());
    assert!(report.host_imports.is_empty());
    assert!(imports(&done.output).is_empty());
    let text = report.to_string();
    assert!(
        text.contains("warning: the export `foo:greeter/greet@1.0.0` of plug `both.wasm`"),
        "{text}"
    );
    assert!(
        text.contains("`greeter.wasm` fills the import instead"),
        "{text}"
    );
}

#[test]
fn a_later_plug_that_does_not_fit_is_reported_too() {
    // The greeter wins, and the mismatch of the plug after it still shows.
    let done = compose_with(
        &[("greeter.wasm", GREETER), ("both.wasm", LOG_AND_BAD_GREET)],
        &ComposeOptions::default(),
    )
    .unwrap();
    assert_eq!(done.report.mismatches.len(), 1);
    assert_eq!(done.report.mismatches[0].plug, "both.wasm");
    assert_eq!(
        done.report.mismatches[0].filled_by.as_deref(),
        Some("greeter.wasm")
    );
}

#[test]
fn a_mismatch_left_to_the_host_on_request_is_a_warning() {
    let options = ComposeOptions {
        // Any name on the import's track will do.
        leave_to_host: vec!["foo:greeter/greet@1.1.0".into()],
        ..ComposeOptions::default()
    };
    let done = compose_with(&[("both.wasm", LOG_AND_BAD_GREET)], &options).unwrap();
    let report = &done.report;
    assert_eq!(report.mismatches.len(), 1);
    assert_eq!(report.mismatches[0].filled_by, None);
    assert_eq!(imports(&done.output), ["foo:greeter/greet@1.0.0"]);
    assert_eq!(report.host_imports.len(), 1);
    assert_eq!(report.host_imports[0].wanted_by[0].input, "socket.wasm");
    assert!(report
        .to_string()
        .contains("The import is left for the host"));
}

#[test]
fn an_unused_plug_explains_its_mismatch_once() {
    // The plug fills nothing: its mismatch is among its reasons, not a second warning.
    let done = compose_with(
        &[("greeter.wasm", GREETER), ("log-less.wasm", BAD_GREET_ONLY)],
        &ComposeOptions::default(),
    )
    .unwrap();
    let report = &done.report;
    assert_eq!(report.unused_plugs.len(), 1);
    assert!(matches!(
        report.unused_plugs[0].reasons.as_slice(),
        [explain::Reason::TypeMismatch { .. }]
    ));
    assert_eq!(report.mismatches.len(), 1);
    let text = report.to_string();
    assert_eq!(text.matches("warning:").count(), 1, "{text}");
}

const BAD_GREET_ONLY: &str = r#"(component
    (core module $m (func (export "g") (result i32) i32.const 1))
    (core instance $i (instantiate $m))
    (func $g (result u32) (canon lift (core func $i "g")))
    (instance $greet (export "greet" (func $g)))
    (export "foo:greeter/greet@1.0.0" (instance $greet)))"#;

#[test]
fn instances_are_named_by_unique_stems() {
    let stems = unique_stems(["a/app.wasm", "b/app.wasm", "Logger.v2.wasm", "..."].into_iter());
    assert_eq!(stems, ["app0", "app1", "logger-v2", "input"]);
}

#[test]
fn a_wire_picks_the_plug_automatic_plugging_would_not() {
    let options = ComposeOptions {
        wiring: Wiring {
            wires: vec![crate::Wire {
                consumer: InputId::SOCKET,
                import: "greet".into(),
                provider: InputId::plug(2),
                export: None,
            }],
            ..Wiring::default()
        },
        ..ComposeOptions::default()
    };
    let done = compose_with(
        &[
            ("both.wasm", LOG_AND_BAD_GREET),
            ("first.wasm", GREETER),
            ("second.wasm", GREETER),
        ],
        &options,
    )
    .unwrap();
    let greet = &done.report.links[1];
    assert_eq!(
        (greet.provider.as_str(), greet.rule),
        ("second.wasm", Rule::Wire)
    );
    assert_eq!(done.report.links[0].rule, Rule::ExactName);
    assert!(done
        .document
        .to_string()
        .contains("\"foo:greeter/greet@1.0.0\": second[\"foo:greeter/greet@1.2.0\"]"));
}

#[test]
fn the_closed_world_names_every_import_left_for_the_host() {
    let options = ComposeOptions {
        wiring: Wiring {
            host_imports: HostImports::Only(Vec::new()),
            ..Wiring::default()
        },
        ..ComposeOptions::default()
    };
    let err = compose_with(&[("greeter.wasm", GREETER)], &options)
        .err()
        .expect("the log import is left for the host");
    let ComposeError::Wiring(wiring) = &err else {
        panic!("unexpected error: {err}");
    };
    let WiringError::HostImportsDenied(denied) = &**wiring else {
        panic!("unexpected error: {err}");
    };
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].import, "foo:bar/log@0.2.0");
    assert_eq!(denied[0].wanted_by, ["socket.wasm"]);
}

#[test]
fn a_kept_import_stays_with_the_host_and_says_who_could_fill_it() {
    let options = ComposeOptions {
        wiring: Wiring {
            host: vec!["foo:greeter/greet@1.0.0".into()],
            ..Wiring::default()
        },
        ..ComposeOptions::default()
    };
    let done = compose_with(
        &[("both.wasm", LOG_AND_BAD_GREET), ("greeter.wasm", GREETER)],
        &options,
    )
    .unwrap();
    assert_eq!(imports(&done.output), ["foo:greeter/greet@1.0.0"]);
    let want = &done.report.host_imports[0].wanted_by[0];
    assert!(want.kept);
    assert_eq!(want.could_fill.as_deref(), Some("greeter.wasm"));
}
