//! Replays what fuzzing keeps: every minimised crasher and a small corpus sample of each
//! target in `tests/fuzz-cases/TARGET/`, plus every small fixture, through the same checks the
//! fuzz targets run (`fuzz/src/lib.rs`). Each case must pass within a second.

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod checks;
// The CLI files inside name `crate::digest`.
use checks::digest;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    found.retain(|p| p.is_file());
    found.sort();
    found
}

fn replay(target: &str, check: fn(&[u8]), path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let start = Instant::now();
    check(&bytes);
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(if cfg!(debug_assertions) { 10 } else { 1 }),
        "{target} took {took:?} on {}",
        path.display()
    );
}

#[test]
fn kept_cases_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-cases");
    let mut replayed = 0;
    for (target, check) in checks::TARGETS {
        let dir = root.join(target);
        assert!(dir.is_dir(), "{} is missing", dir.display());
        for path in files(&dir) {
            replay(target, check, &path);
            replayed += 1;
        }
    }
    assert!(
        replayed >= checks::TARGETS.len(),
        "only {replayed} kept cases"
    );
}

#[test]
fn small_fixtures_pass_every_binary_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut seen = 0;
    for dir in ["components", "edge"] {
        for path in files(&root.join(dir)) {
            let small = std::fs::metadata(&path).unwrap().len() < 1 << 20;
            if !small || path.extension().is_none_or(|e| e != "wasm") {
                continue;
            }
            for (target, check) in checks::TARGETS {
                if target != "lock_and_config" {
                    replay(target, check, &path);
                }
            }
            seen += 1;
        }
    }
    assert!(seen > 5, "only {seen} fixtures");
}

/// The compose cases of the CLI tests (small sockets and plugs written in WAT), joined as the
/// `compose` target reads its input, and each composition of them as `optimize` reads it.
fn compose_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let inputs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/compose/inputs");
    let wasm = |name: &str| wat::parse_file(inputs.join(name)).unwrap();
    let cases: [(&str, &[&str]); 5] = [
        ("socket.wat", &["log-0.2.1.wat"]),
        ("socket.wat", &["log-middleware.wat", "log-0.2.1.wat"]),
        ("app-0.1.0.wat", &["logger-0.1.4.wat", "logger-0.1.1.wat"]),
        (
            "socket-log-greet.wat",
            &["log-and-bad-greet.wat", "greeter.wat"],
        ),
        ("ping.wat", &["pong.wat"]),
    ];
    let mut seeds = Vec::new();
    for (socket, plugs) in cases {
        let (s, p) = (wasm(socket), wasm(plugs[0]));
        let second = plugs.get(1).map(|n| wasm(n));
        let label = format!("{}+{}", socket.trim_end_matches(".wat"), plugs.join("+"));
        seeds.push((
            "compose",
            label.clone(),
            checks::join_inputs(&s, &p, second.as_deref()),
        ));
        let mut plug_inputs = vec![p];
        plug_inputs.extend(second);
        let composed = wtool_compose::compose(
            wtool_compose::Input {
                name: socket.into(),
                bytes: s,
                sha256: None,
                instance: None,
            },
            plug_inputs
                .into_iter()
                .enumerate()
                .map(|(i, bytes)| wtool_compose::Input {
                    name: format!("plug{i}.wasm"),
                    bytes,
                    sha256: None,
                    instance: None,
                })
                .collect(),
            &Default::default(),
        );
        if let Ok(c) = composed {
            for mode in [0u8, 1, 6] {
                let mut input = vec![mode];
                input.extend(c.output.to_vec());
                seeds.push(("optimize", format!("{label}-mode{mode}"), input));
            }
        }
    }
    seeds
}

/// The seeds pass their targets' checks, and at least one of each composes. With
/// `FUZZ_SEEDS_OUT=DIR` they are also written to DIR/TARGET/, which is how the kept compose and
/// optimize cases were made.
#[test]
fn compose_and_optimize_seeds_pass() {
    let seeds = compose_seeds();
    assert!(seeds.iter().filter(|s| s.0 == "optimize").count() >= 3);
    for (target, label, bytes) in &seeds {
        let check = checks::TARGETS.iter().find(|(t, _)| t == target).unwrap().1;
        check(bytes);
        if let Some(out) = std::env::var_os("FUZZ_SEEDS_OUT") {
            let dir = Path::new(&out).join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(label), bytes).unwrap();
        }
    }
}
