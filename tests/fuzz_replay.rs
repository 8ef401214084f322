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
