//! The streaming content check against wasmparser's own whole-buffer validation: the verdict
//! must be the same for valid, invalid and mutated content, and large payloads must not be held.

use super::*;
use wasm_encoder::Encode;
use wasmparser::Validator;

/// The size of the chunks content is fed in, as an upload streams in.
const CHUNK: usize = 64 * 1024;

fn policy(allow_core_modules: bool) -> ContentPolicy {
    ContentPolicy {
        max_bytes: 1 << 30,
        validate_wasm: true,
        allow_core_modules,
        known_bodies: None,
    }
}

/// Feeds `bytes` to a check of `policy` in chunks, stopping at the first rejection.
fn check_with_stats(
    policy: &ContentPolicy,
    bytes: &[u8],
) -> (Result<(), ContentRejection>, CheckStats) {
    let mut check = policy.start();
    for chunk in bytes.chunks(CHUNK) {
        if let Err(r) = check.feed(chunk) {
            return (Err(r), check.stats());
        }
    }
    check.finish_with_stats()
}

fn check_policy(policy: &ContentPolicy, bytes: &[u8]) -> Result<CheckStats, ContentRejection> {
    let (result, stats) = check_with_stats(policy, bytes);
    result.map(|()| stats)
}

fn check(bytes: &[u8]) -> Result<CheckStats, ContentRejection> {
    check_policy(&policy(true), bytes)
}

/// wasmparser's verdict on the whole buffer.
fn reference(bytes: &[u8]) -> bool {
    Validator::new_with_features(WasmFeatures::all())
        .validate_all(bytes)
        .is_ok()
}

fn assert_same_verdict(bytes: &[u8], what: &str) {
    let ours = check(bytes);
    assert_eq!(
        ours.is_ok(),
        reference(bytes),
        "{what}: streaming check says {ours:?}, wasmparser says {:?}",
        Validator::new_with_features(WasmFeatures::all())
            .validate_all(bytes)
            .err()
    );
    if let Err(e) = ours {
        assert!(matches!(e, ContentRejection::Invalid(_)), "{what}: {e}");
    }
}

fn leb(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    n.encode(&mut out);
    out
}

fn section(id: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(leb(body.len()));
    out.extend_from_slice(body);
    out
}

fn module(sections: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    sections.iter().for_each(|s| out.extend(s));
    out
}

fn component(sections: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"\0asm\x0d\0\x01\0".to_vec();
    sections.iter().for_each(|s| out.extend(s));
    out
}

/// A memory section with one memory of `pages` pages.
fn memory(pages: usize) -> Vec<u8> {
    let mut body = vec![1, 0];
    body.extend(leb(pages));
    section(5, &body)
}

/// An active data segment for `memory_index` at offset 0 (flags 2 when the index is not 0).
fn active_segment(memory_index: u32, data: &[u8]) -> Vec<u8> {
    let mut seg = if memory_index == 0 {
        vec![0]
    } else {
        let mut s = vec![2];
        s.extend(leb(memory_index as usize));
        s
    };
    seg.extend([0x41, 0, 0x0b]);
    seg.extend(leb(data.len()));
    seg.extend_from_slice(data);
    seg
}

fn data_section(segments: &[Vec<u8>]) -> Vec<u8> {
    let mut body = leb(segments.len());
    segments.iter().for_each(|s| body.extend(s));
    section(11, &body)
}

fn custom(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = leb(name.len());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    section(0, &body)
}

fn nested_module(module: &[u8]) -> Vec<u8> {
    section(1, module)
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 % 251) as u8).collect()
}

/// Read at run time: a warm target dir shared by clones at different paths can hand us a test
/// binary compiled in another clone.
fn workspace_fixtures() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .join("../fixtures")
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let root = workspace_fixtures();
    let mut out = Vec::new();
    for dir in ["components", "edge"] {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        entries.sort();
        for path in entries {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    assert!(out.len() >= 10, "fixtures not found");
    out
}

#[test]
fn fixtures_get_the_same_verdict_as_wasmparser() {
    let fixtures = fixtures();
    let mut valid = 0;
    for (name, bytes) in &fixtures {
        assert_same_verdict(bytes, name);
        valid += reference(bytes) as usize;
    }
    // Both outcomes are exercised: real components pass, the broken edge cases fail.
    assert!(valid >= 8 && valid < fixtures.len(), "{valid} valid");
}

#[test]
fn mutated_fixtures_get_the_same_verdict_as_wasmparser() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut rejected = 0;
    let mut total = 0;
    for (name, bytes) in fixtures().iter().filter(|(_, b)| b.len() < 1 << 20) {
        for _ in 0..40 {
            let mut m = bytes.clone();
            let at = (next() % m.len() as u64) as usize;
            match next() % 4 {
                // Truncation.
                0 => m.truncate(at),
                // A flipped byte.
                1 => m[at] ^= 1 << (next() % 8),
                // Garbage appended.
                2 => m.extend_from_slice(&payload((next() % 64) as usize + 1)),
                // Bytes removed from the middle, which shifts every later section.
                _ => {
                    let end = (at + (next() % 16) as usize + 1).min(m.len());
                    m.drain(at..end);
                }
            }
            // (A cut exactly at a section boundary inside a nested module would differ:
            // `validate_all` accepts that, see the hand-built cases. This seed hits none.)
            assert_same_verdict(&m, &format!("{name} mutated at {at}"));
            rejected += !reference(&m) as usize;
            total += 1;
        }
    }
    assert!(
        rejected > total / 4,
        "{rejected} of {total} mutants rejected"
    );
}

#[test]
fn hand_built_edge_cases_get_the_same_verdict_as_wasmparser() {
    let module_with = |sections: &[Vec<u8>]| component(&[nested_module(&module(sections))]);
    let ok_data = data_section(&[active_segment(0, b"hello")]);
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "data segment",
            module_with(&[memory(1), ok_data.clone()]),
            true,
        ),
        (
            "passive and active segments",
            module_with(&[
                memory(1),
                data_section(&[vec![1, 3, b'a', b'b', b'c'], active_segment(0, b"x")]),
            ]),
            true,
        ),
        (
            "data count section that matches",
            module_with(&[memory(1), section(12, &[1]), ok_data.clone()]),
            true,
        ),
        (
            "data count section that does not match",
            module_with(&[memory(1), section(12, &[2]), ok_data.clone()]),
            false,
        ),
        (
            "segment for a memory that does not exist",
            module_with(&[memory(1), data_section(&[active_segment(1, b"x")])]),
            false,
        ),
        (
            "segment without any memory",
            module_with(std::slice::from_ref(&ok_data)),
            false,
        ),
        (
            "offset expression of the wrong type",
            module_with(&[memory(1), data_section(&[vec![0, 0x42, 0, 0x0b, 1, 9]])]),
            false,
        ),
        (
            "invalid segment flags",
            module_with(&[memory(1), data_section(&[vec![7, 0]])]),
            false,
        ),
        (
            "segment longer than its section",
            module_with(&[memory(1), section(11, &[1, 1, 10, b'a'])]),
            false,
        ),
        (
            "bytes after the last segment",
            module_with(&[memory(1), section(11, &[1, 1, 1, b'a', 0])]),
            false,
        ),
        (
            "fewer segments than counted",
            module_with(&[memory(1), section(11, &[2, 1, 1, b'a'])]),
            false,
        ),
        (
            "too many segments",
            module_with(&[memory(1), section(11, &[0xa1, 0x8d, 0x06])]),
            false,
        ),
        (
            "data section before the memory section",
            module_with(&[ok_data.clone(), memory(1)]),
            false,
        ),
        (
            "two data sections",
            module_with(&[memory(1), ok_data.clone(), ok_data.clone()]),
            false,
        ),
        (
            "custom sections everywhere",
            component(&[
                custom("a", b"1"),
                nested_module(&module(&[
                    custom("b", b""),
                    memory(1),
                    custom("c", b"x"),
                    ok_data.clone(),
                    custom("name", b"\0"),
                ])),
                custom("", b"zz"),
            ]),
            true,
        ),
        (
            "custom section name that is not UTF-8",
            component(&[section(0, &[2, 0xff, 0xfe, 1])]),
            false,
        ),
        (
            "custom section name longer than its section",
            component(&[section(0, &[9, b'a'])]),
            false,
        ),
        (
            "custom section name over the string limit",
            component(&[section(0, &{
                let mut b = leb(100_001);
                b.extend(vec![b'a'; 100_001]);
                b
            })]),
            false,
        ),
        (
            "section longer than the content",
            component(&[vec![0, 0x80, 0x80, 0x80, 0x01, 1, b'a']]),
            false,
        ),
        (
            "nested module cut inside its header",
            [component(&[]), vec![1, 8], b"\0asm\x01".to_vec()].concat(),
            false,
        ),
        (
            "section longer than its nested module",
            component(&[nested_module(&[module(&[]), vec![0, 5, 1, b'a']].concat())]),
            false,
        ),
        (
            "garbage after the header",
            [component(&[]), b"not a section at all".to_vec()].concat(),
            false,
        ),
        (
            "a second header",
            [component(&[]), component(&[])].concat(),
            false,
        ),
        ("header only", component(&[]), true),
        (
            "a core module where a data section would be",
            module(&[memory(1), custom("x", b"\0asm")]),
            true,
        ),
    ];
    for (what, bytes, expected) in cases {
        assert_eq!(reference(&bytes), expected, "wasmparser on {what}");
        assert_same_verdict(&bytes, what);
    }

    // A nested module whose declared length runs past the end of the content: wasmparser's
    // whole-buffer `validate_all` ends the nested module at the end of the buffer and accepts
    // it; the content is truncated, and the streaming check refuses it.
    let truncated = [component(&[]), vec![1, 0xe8, 0x07], module(&[memory(1)])].concat();
    assert!(reference(&truncated));
    assert!(matches!(
        check(&truncated),
        Err(ContentRejection::Invalid(_))
    ));
}

#[test]
fn large_payloads_are_skipped_not_held() {
    let mb = 1 << 20;
    let data = payload(24 * mb);
    let cases = [
        (
            "24 MB data segment",
            component(&[nested_module(&module(&[
                memory(400),
                data_section(&[active_segment(0, &data[..12 * mb]), vec![1, 0]]),
            ]))
            .into_iter()
            .chain(nested_module(&module(&[
                memory(400),
                data_section(&[active_segment(0, &data[12 * mb..])]),
            ])))
            .collect::<Vec<_>>()]),
        ),
        (
            "24 MB custom sections",
            component(&[
                custom("component-blob", &data[..8 * mb]),
                nested_module(&module(&[custom(".debug_info", &data[8 * mb..])])),
            ]),
        ),
    ];
    for (what, bytes) in cases {
        assert!(reference(&bytes), "{what}");
        let stats = check(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            stats.peak_buffered <= 2 * CHUNK + super::RUN,
            "{what}: held {} bytes",
            stats.peak_buffered
        );
        assert!(stats.skipped >= 24 * mb as u64 - 64, "{what}: {stats:?}");
    }
}

#[test]
fn large_invalid_content_is_rejected_without_being_held() {
    let mb = 1 << 20;
    let data = payload(20 * mb);
    let nested = |sections: &[Vec<u8>]| component(&[nested_module(&module(sections))]);
    let mut past_end = data_section(&[active_segment(0, &data)]);
    past_end.truncate(past_end.len() - 1);
    let cases = [
        (
            "segment for a missing memory",
            nested(&[memory(1), data_section(&[active_segment(2, &data)])]),
        ),
        (
            "trailing byte in the data section",
            nested(&[memory(1), {
                let mut body = leb(1);
                body.extend(active_segment(0, &data));
                body.push(0);
                section(11, &body)
            }]),
        ),
        (
            "core module after a big data section",
            nested(&[
                memory(1),
                data_section(&[active_segment(0, &data)]),
                memory(1),
            ]),
        ),
        (
            "content cut inside a big data section",
            nested(&[memory(1), past_end]),
        ),
        (
            "section header claiming more than the content",
            [
                component(&[]),
                vec![0, 0xff, 0xff, 0xff, 0x7f],
                data.clone(),
            ]
            .concat(),
        ),
    ];
    for (what, bytes) in cases {
        assert!(!reference(&bytes), "{what}");
        let (result, stats) = check_with_stats(&policy(true), &bytes);
        match result {
            Err(ContentRejection::Invalid(_)) => {}
            other => panic!("{what}: {other:?}"),
        }
        assert!(
            stats.peak_buffered <= 2 * CHUNK + super::RUN,
            "{what}: held {} bytes",
            stats.peak_buffered
        );
    }
}

#[test]
fn policy_rules_besides_validity() {
    let core = module(&[]);
    assert_eq!(
        check_policy(&policy(false), &core).unwrap_err(),
        ContentRejection::CoreModule
    );
    assert!(check_policy(&policy(true), &core).is_ok());
    // A core module is refused as such even when it is also invalid.
    let bad_core = module(&[vec![99, 0]]);
    assert_eq!(
        check_policy(&policy(false), &bad_core).unwrap_err(),
        ContentRejection::CoreModule
    );
    assert_eq!(
        check_policy(&policy(false), &[]).unwrap_err(),
        ContentRejection::Empty
    );
    let small = ContentPolicy {
        max_bytes: 4,
        validate_wasm: true,
        allow_core_modules: false,
        known_bodies: None,
    };
    let c = component(&[]);
    assert_eq!(
        check_policy(&small, &c).unwrap_err(),
        ContentRejection::TooLarge { limit: 4 }
    );
    assert!(small.check_size(4).is_ok() && small.check_size(5).is_err());
    // A component nested inside a component is not a core module at the top.
    let nested = component(&[section(4, &component(&[]))]);
    assert!(check_policy(&policy(false), &nested).is_ok());
    // Validation off still refuses empty and oversized content, nothing else.
    let off = ContentPolicy {
        max_bytes: 100,
        validate_wasm: false,
        allow_core_modules: false,
        known_bodies: None,
    };
    assert!(check_policy(&off, b"junk").is_ok());
    assert!(check_policy(&off, &[]).is_err());
}

/// Content found invalid early is still read on, but the size limit keeps counting: an upload
/// that is garbage from its first bytes is cut short at the limit like any other.
#[test]
fn invalid_content_is_still_cut_at_the_size_limit() {
    let small = ContentPolicy {
        max_bytes: 64,
        validate_wasm: true,
        allow_core_modules: false,
        known_bodies: None,
    };
    let mut check = small.start();
    assert!(matches!(
        check.feed(b"not wasm at all"),
        Err(ContentRejection::Invalid(_))
    ));
    assert!(matches!(
        check.feed(&[0; 32]),
        Err(ContentRejection::Invalid(_))
    ));
    assert_eq!(
        check.feed(&[0; 32]).unwrap_err(),
        ContentRejection::TooLarge { limit: 64 }
    );
}

/// The verdict does not depend on where the chunks of an upload begin and end.
#[test]
fn the_verdict_does_not_depend_on_chunk_sizes() {
    let mb = 1 << 20;
    let data = payload(3 * mb);
    let mut cases: Vec<Vec<u8>> = fixtures()
        .into_iter()
        .map(|(_, bytes)| bytes)
        .filter(|b| b.len() < 4 << 20)
        .collect();
    cases.push(component(&[nested_module(&module(&[
        memory(100),
        data_section(&[active_segment(0, &data), vec![1, 0]]),
        custom("name", b"\0"),
    ]))]));
    for bytes in &cases {
        let expected = reference(bytes);
        for size in [1, 7, 64, 4096, 100_000, usize::MAX] {
            if size < 64 && bytes.len() > 1 << 20 {
                continue;
            }
            let mut check = policy(true).start();
            let mut result = Ok(());
            for chunk in bytes.chunks(size.min(bytes.len()).max(1)) {
                result = check.feed(chunk);
                if result.is_err() {
                    break;
                }
            }
            let verdict = result.and_then(|()| check.finish().map(drop));
            assert_eq!(verdict.is_ok(), expected, "chunks of {size}: {verdict:?}");
        }
    }
}

#[test]
fn a_real_18_mb_component_is_checked_in_bounded_memory() {
    let path = workspace_fixtures().join("components/py-logger.wasm");
    let bytes = std::fs::read(path).unwrap();
    let stats = check(&bytes).unwrap();
    assert!(stats.skipped > 0, "{stats:?}");
    assert!(
        stats.peak_buffered < bytes.len() / 4,
        "held {} of {} bytes",
        stats.peak_buffered,
        bytes.len()
    );
    eprintln!("py-logger.wasm: {} bytes, {stats:?}", bytes.len());
}

/// A second upload of the 18 MB component (a new release that keeps its code) finds every
/// function body known, and gets the same verdict; so does content that differs from it.
#[test]
fn a_release_that_keeps_its_code_is_not_validated_again() {
    let bytes = std::fs::read(workspace_fixtures().join("components/py-logger.wasm")).unwrap();
    let known = ContentPolicy {
        known_bodies: Some(std::sync::Arc::new(KnownBodies::new(
            super::KNOWN_BODIES_PER_GENERATION,
        ))),
        ..policy(false)
    };
    let first = check_policy(&known, &bytes).unwrap();
    assert_eq!(first.known_bodies, 0);
    let mut release = bytes.clone();
    release.extend_from_slice(&section(0, b"\x04note2.0.1"));
    let second = check_policy(&known, &release).unwrap();
    assert_eq!(second.known_bodies, 13_353, "{second:?}");
    // The last body of the content loses its final `end`: it alone is validated again, and
    // refused.
    let last_end = wasmparser::Parser::new(0)
        .parse_all(&release)
        .filter_map(|p| match p {
            Ok(wasmparser::Payload::CodeSectionEntry(body)) => Some(body.range().end as usize - 1),
            _ => None,
        })
        .last()
        .unwrap();
    let mut broken = release.clone();
    assert_eq!(broken[last_end], 0x0b);
    broken[last_end] = 0x01;
    let (verdict, stats) = check_with_stats(&known, &broken);
    assert!(
        matches!(verdict, Err(ContentRejection::Invalid(_))),
        "{verdict:?}"
    );
    assert_eq!(stats.known_bodies, 13_352, "{stats:?}");
    assert!(check_policy(&policy(false), &broken).is_err());
}

/// Component and instance types nested a million deep (3 MB): wasmparser 0.258 reads them
/// recursively, so this overflowed the stack and aborted the server. It is refused, in any
/// chunking, before wasmparser reads the section.
#[test]
fn types_nested_past_the_bound_are_refused_not_a_stack_overflow() {
    let mut ty = vec![0x42, 0x00];
    for i in 0..1_000_000 {
        ty.extend_from_slice(if i % 2 == 0 {
            &[0x01, 0x01, 0x41]
        } else {
            &[0x01, 0x01, 0x42]
        });
    }
    ty.reverse();
    // Reversed, each level reads `0x41|0x42, 1, 1` and the innermost `0x42, 0`.
    let inner = ty.split_off(ty.len() - 2);
    let ty = [ty, inner.into_iter().rev().collect()].concat();
    let content = component(&[section(7, &[vec![1], ty].concat())]);
    for size in [CHUNK, 4093, content.len()] {
        let mut check = policy(false).start();
        let fed = content.chunks(size).try_for_each(|c| check.feed(c));
        let verdict = fed.and_then(|()| check.finish().map(drop));
        match verdict {
            Err(ContentRejection::Invalid(m)) => {
                assert!(m.contains("nest deeper than the limit of 100"), "{m}")
            }
            other => panic!("chunks of {size}: {other:?}"),
        }
    }
}
