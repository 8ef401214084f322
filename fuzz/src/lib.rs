//! The checks the fuzz targets run, one function per target. They are also compiled into the
//! repository's `tests/fuzz_replay.rs`, which replays the kept crashers and corpus samples in
//! `cargo test`. Each check panics exactly when it finds a bug.

use wasmparser::WasmFeatures;
use wtool_compose::validate;
use wtool_registry::policy::content::ContentPolicy;

// The CLI is a binary; the parsers it runs on what registries and users hand it are compiled
// in here from their own files. They name each other from the crate root (`crate::digest`), so
// a crate that includes this file re-exports them there.
#[allow(dead_code)]
#[path = "../../cli/src/digest.rs"]
pub mod digest;
#[allow(dead_code)]
#[path = "../../cli/src/lock.rs"]
pub mod lock;
#[allow(dead_code)]
#[path = "../../cli/src/witpkg.rs"]
pub mod witpkg;
#[allow(dead_code)]
#[path = "../../cli/src/wkg_config.rs"]
pub mod wkg_config;

/// One fuzz target's check.
pub type Check = fn(&[u8]);

/// The targets by name, for the replay test.
pub const TARGETS: [(&str, Check); 5] = [
    ("validate", validate),
    ("inspect", inspect),
    ("content_policy", content_policy),
    ("lock_and_config", lock_and_config),
    ("wit_package", wit_package),
];

/// `validate` and its feature scan: a report or an error, never a panic, and the one validator
/// agrees with wasmparser's on what is valid.
pub fn validate(data: &[u8]) {
    for features in [WasmFeatures::all(), WasmFeatures::default()] {
        let report = validate::validate("fuzz.wasm", data, features);
        let checked = validate::check("fuzz.wasm", data, features);
        assert_eq!(
            report.is_ok(),
            checked.is_ok(),
            "validate and check disagree"
        );
        let reference = wasmparser::Validator::new_with_features(features)
            .validate_all(data)
            .is_ok();
        // wtool also refuses what is past its own bounds (nesting depth, name length).
        let bounded = matches!(&checked, Err(e) if e.to_string().contains("than the limit of"));
        assert!(
            checked.is_ok() == reference || (bounded && reference),
            "wasmparser disagrees: {checked:?}"
        );
        if let Ok(report) = report {
            for profile in wtool_compose::profile::PROFILES.iter() {
                let _ = validate::violations(&report, profile);
            }
        }
    }
}

/// `inspect`, with and without `--wit`: an answer or an error, never a panic.
pub fn inspect(data: &[u8]) {
    let _ = wtool_compose::inspect::inspect("fuzz.wasm", data);
    let _ = wtool_compose::inspect::wit("fuzz.wasm", data);
}

/// The registry's streaming content policy: however an upload is cut into chunks, the verdict
/// is the one the whole content gets. The first byte chooses the cut and the core-module rule.
pub fn content_policy(input: &[u8]) {
    let Some((&cut, data)) = input.split_first() else {
        return;
    };
    let policy = ContentPolicy {
        max_bytes: 1 << 20,
        validate_wasm: true,
        allow_core_modules: cut & 1 == 0,
    };
    let whole = {
        let mut check = policy.start();
        let fed = check.feed(data);
        fed.and_then(|()| check.finish().map(drop))
    };
    let chunked = {
        let mut check = policy.start();
        let size = usize::from(cut >> 1).max(1);
        let fed = data.chunks(size).try_for_each(|c| check.feed(c));
        fed.and_then(|()| check.finish().map(drop))
    };
    assert_eq!(whole.is_ok(), chunked.is_ok(), "{whole:?} vs {chunked:?}");
}

/// The lock and config parsers: any text parses or fails cleanly, and a lock that parses is
/// written back as text that parses to the same entries.
pub fn lock_and_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = lock::Lock::parse(text) {
        let written = parsed.to_toml();
        let again = lock::Lock::parse(&written).expect("a written lock parses");
        let a: Vec<_> = parsed.entries().map(|e| e.label()).collect();
        let b: Vec<_> = again.entries().map(|e| e.label()).collect();
        assert_eq!(a, b);
    }
    let _ = wasm_pkg_common::config::Config::from_toml(text);
    let _ = wkg_config::explain(text);
}

/// The WIT package outline and decode that `fetch` runs on what registries serve: when both
/// read a package, they name the same one.
pub fn wit_package(data: &[u8]) {
    let outline = witpkg::outline(data);
    if let Ok(witpkg::Decoded::Package(p)) = witpkg::decode(data, "fuzz") {
        let _ = p.dependencies();
        let _ = witpkg::print_package(&p.resolve, p.id);
        if let Some(outline) = outline {
            assert_eq!(&outline.name, p.name(), "the outline names another package");
        }
    }
}
