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
#[path = "../../cli/src/registry/answers.rs"]
pub mod answers;
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
pub const TARGETS: [(&str, Check); 11] = [
    ("validate", validate),
    ("inspect", inspect),
    ("content_policy", content_policy),
    ("lock_and_config", lock_and_config),
    ("wit_package", wit_package),
    ("compose", compose),
    ("optimize", optimize),
    ("oci_manifest", oci_manifest),
    ("http", http),
    ("envelope", envelope),
    ("client_answers", client_answers),
];

/// What the client parses of a registry's answers: the first byte picks a `WWW-Authenticate`
/// value, a token service's answer or a metadata document, the rest is the text. Nothing
/// panics, a challenge has the realm it was given, and an offer is consistent with itself.
pub fn client_answers(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    match kind % 3 {
        0 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                if let Some(c) = answers::Challenge::parse(text) {
                    assert!(
                        text.to_ascii_lowercase().contains("realm"),
                        "a realm from a header without one: {text:?}"
                    );
                    let _ = c.service;
                }
            }
        }
        1 => {
            let _ = answers::issued_token(rest);
        }
        _ => {
            if let Ok(meta) = serde_json::from_slice::<serde_json::Value>(rest) {
                let offer = answers::Offer::of(&meta);
                assert!(
                    offer.oci_registry.is_none() || offer.offers_oci,
                    "{offer:?}"
                );
                assert!(offer.warg_url.is_none() || offer.offers_warg, "{offer:?}");
            }
        }
    }
}

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
        // wtool also refuses what is past its own bounds (nesting depth, name length), and a
        // nested artifact whose section claims more bytes than the input has: wasmparser 0.258's
        // whole-buffer validation misses that truncation (0.263 refuses it, as wtool does).
        let bounded = matches!(&checked, Err(e) if e.to_string().contains("than the limit of"));
        // Past wtool's bound on type nesting, wasmparser 0.258 would overflow its own stack.
        let reference = !bounded
            && wasmparser::Validator::new_with_features(features)
                .validate_all(data)
                .is_ok();
        let truncated = matches!(&checked, Err(validate::ValidateError::Invalid { message, offset, .. })
            if message.contains("unexpected end") && *offset == data.len() as u64);
        assert!(
            checked.is_ok() == reference || ((bounded || truncated) && reference),
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
        known_bodies: None,
    };
    let whole = {
        let mut check = policy.start();
        let fed = check.feed(data);
        fed.and_then(|()| check.finish().map(drop))
    };
    let in_chunks = |policy: &ContentPolicy| {
        let mut check = policy.start();
        let size = usize::from(cut >> 1).max(1);
        let fed = data.chunks(size).try_for_each(|c| check.feed(c));
        fed.and_then(|()| check.finish().map(drop))
    };
    let chunked = in_chunks(&policy);
    assert_eq!(whole.is_ok(), chunked.is_ok(), "{whole:?} vs {chunked:?}");
    // Bodies the first chunked pass found valid change no verdict on the second.
    let known = ContentPolicy {
        known_bodies: Some(std::sync::Arc::new(validate::KnownBodies::new(1 << 16))),
        ..policy
    };
    for _ in 0..2 {
        let again = in_chunks(&known);
        assert_eq!(
            whole.is_ok(),
            again.is_ok(),
            "{whole:?} vs {again:?} with known bodies"
        );
    }
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

/// Cuts `data` into up to three inputs: two little-endian `u16` lengths, then the socket and
/// the first plug of those lengths, and the rest as a second plug when there is any.
pub fn split_inputs(data: &[u8]) -> Option<Vec<&[u8]>> {
    let (head, rest) = data.split_at_checked(4)?;
    let a = usize::from(u16::from_le_bytes([head[0], head[1]]));
    let b = usize::from(u16::from_le_bytes([head[2], head[3]]));
    let (socket, rest) = rest.split_at_checked(a)?;
    let (plug, rest) = rest.split_at_checked(b)?;
    let mut inputs = vec![socket, plug];
    if !rest.is_empty() {
        inputs.push(rest);
    }
    Some(inputs)
}

/// The inverse of [`split_inputs`], for seeds.
pub fn join_inputs(socket: &[u8], plug: &[u8], second: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(socket.len() as u16).to_le_bytes());
    out.extend_from_slice(&(plug.len() as u16).to_le_bytes());
    out.extend_from_slice(socket);
    out.extend_from_slice(plug);
    out.extend_from_slice(second.unwrap_or_default());
    out
}

/// `compose` of a socket and one or two plugs: a composition or an error, never a panic, and
/// never an output that does not validate.
pub fn compose(data: &[u8]) {
    use wtool_compose::{ComposeError, ComposeOptions, Input};
    let Some(parts) = split_inputs(data) else {
        return;
    };
    let mut inputs = parts.iter().enumerate().map(|(i, bytes)| Input {
        name: format!("input{i}.wasm"),
        bytes: bytes.to_vec(),
        sha256: None,
        instance: None,
    });
    let socket = inputs.next().expect("a socket");
    match wtool_compose::compose(socket, inputs.collect(), &ComposeOptions::default()) {
        Ok(composition) => {
            let bytes = composition.output.to_vec();
            wasmparser::Validator::new_with_features(WasmFeatures::all())
                .validate_all(&bytes)
                .expect("a composition validates");
        }
        Err(ComposeError::InvalidOutput(e)) => panic!("compose wrote an invalid component: {e}"),
        Err(_) => {}
    }
}

/// binaryen's stand-in for the optimize target: hands each module back as it came, so that
/// everything around binaryen (the walk, deduplication, stripping, the rewrite and the final
/// validation) runs on the fuzzer's input.
#[derive(Debug)]
struct Unchanged;

impl wtool_compose::optimize::WasmOpt for Unchanged {
    fn run(&self, args: &[std::ffi::OsString]) -> Result<(), String> {
        let input = args.first().ok_or("no input")?;
        let out = args
            .iter()
            .position(|a| a == "-o")
            .and_then(|i| args.get(i + 1))
            .ok_or("no -o")?;
        std::fs::copy(input, out)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// `optimize` up to binaryen: an input that validates comes out as a component that validates
/// (the optimizer says `InvalidOutput` otherwise, which is a bug), whatever is stripped.
pub fn optimize(data: &[u8]) {
    use wtool_compose::optimize::{OptimizeError, OptimizeOptions, Strip};
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let mut options = OptimizeOptions::new(std::sync::Arc::new(Unchanged));
    options.strip = match mode % 3 {
        0 => Strip::Nothing,
        1 => Strip::Debug,
        _ => Strip::All,
    };
    options.keep_names = mode & 4 != 0;
    match wtool_compose::optimize::optimize("fuzz.wasm", bytes, &options) {
        Ok(out) => {
            wasmparser::Validator::new_with_features(WasmFeatures::all())
                .validate_all(&out.bytes)
                .expect("an optimized component validates");
        }
        Err(e @ OptimizeError::InvalidOutput { .. }) => panic!("{e}"),
        Err(_) => {}
    }
}

/// The server's manifest parsing: an answer or a refusal with a message, and every digest it
/// returns reads back as itself.
pub fn oci_manifest(data: &[u8]) {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let content_type = match mode % 4 {
        0 => None,
        1 => Some("application/vnd.oci.image.manifest.v1+json"),
        2 => Some("application/vnd.oci.image.index.v1+json"),
        _ => Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"),
    };
    match wtool_registry::fuzzing::oci_manifest(bytes, content_type) {
        Ok(digests) => {
            for d in digests {
                assert_eq!(wtool_registry::fuzzing::digest(&d).as_deref(), Some(&*d));
            }
        }
        Err(message) => assert!(!message.is_empty()),
    }
}

/// The server's header parsing: `Range` never names bytes outside the blob, `Content-Range`
/// reads what it was given, and a digest's canonical form is a fixed point.
pub fn http(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (total, header) = match text.split_once('\n') {
        Some((n, h)) => (n.trim().parse::<u64>().unwrap_or(1000), h),
        None => (1000, text),
    };
    if let Ok(Some((start, end))) = wtool_registry::fuzzing::range(header, total) {
        assert!(
            start <= end && end < total,
            "{header:?} of {total}: {start}-{end}"
        );
    }
    if let Some((a, b)) = wtool_registry::fuzzing::content_range(header) {
        let again = wtool_registry::fuzzing::content_range(&format!("{a}-{b}"));
        assert_eq!(again, Some((a, b)));
    }
    if let Some(canonical) = wtool_registry::fuzzing::digest(header) {
        assert_eq!(
            wtool_registry::fuzzing::digest(&canonical).as_deref(),
            Some(&*canonical)
        );
    }
}

/// The warg record envelope: a publish request's record decodes, reads back from what the
/// store keeps, and validates, or is refused with a message; a stored record decodes or not.
pub fn envelope(data: &[u8]) {
    if let Err(message) = wtool_registry::fuzzing::record_envelope(data) {
        assert!(!message.is_empty());
    }
    let _ = wtool_registry::fuzzing::stored_record(data);
}
