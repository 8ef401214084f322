//! Data-driven CLI tests, in the style of wasm-tools' `tests/cli/`.
//!
//! Every file under `<workspace>/tests/cli/` whose header has `RUN:` or `FAIL:` lines is a case.
//! The header comment may start with `;;`, `//` or `#`. In the command, `%` is the case file,
//! `%tmp` the scratch directory shared by the commands of one file and `%root` the workspace
//! root. A `RUN:` must exit 0, a `FAIL:` must not, and a `FAIL(N):` must exit with code N (the
//! codes `wtool --help` lists). Commands run in a scratch directory where `fixtures/` and `tests/` resolve
//! to the workspace's. Stdout and stderr are compared with `<file>.stdout` / `<file>.stderr`
//! (`<file>.<n>.stdout` when a file has several commands); `BLESS=1` rewrites them.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Case {
    file: PathBuf,
    index: Option<usize>,
    args: String,
    expect: Expect,
}

#[derive(Clone, Copy, PartialEq)]
enum Expect {
    Success,
    Failure,
    Code(i32),
}

/// `RUN: args`, `FAIL: args` or `FAIL(N): args`.
fn parse_header(line: &str) -> Option<(Expect, String)> {
    if let Some(args) = line.strip_prefix("RUN:") {
        return Some((Expect::Success, args.trim().to_string()));
    }
    if let Some(args) = line.strip_prefix("FAIL:") {
        return Some((Expect::Failure, args.trim().to_string()));
    }
    let rest = line.strip_prefix("FAIL(")?;
    let (code, args) = rest.split_once("):")?;
    let code = code
        .parse()
        .unwrap_or_else(|_| panic!("`FAIL({code}):` needs a number"));
    Some((Expect::Code(code), args.trim().to_string()))
}

fn main() {
    // Read at run time: a warm target dir shared by clones at different paths can hand us a
    // binary compiled in another clone.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut cases = Vec::new();
    collect(&root.join("tests/cli"), &mut cases);
    cases.retain(|c| {
        filter
            .as_ref()
            .is_none_or(|f| c.file.to_string_lossy().contains(f.as_str()))
    });
    let bless = std::env::var_os("BLESS").is_some();
    let (mut passed, mut failed) = (0, 0);
    // Commands of one file share a scratch directory, so a later command can read what an
    // earlier one wrote (compose, then validate the output).
    let mut scratch: Option<(PathBuf, tempfile::TempDir)> = None;
    for case in &cases {
        if scratch.as_ref().is_none_or(|(file, _)| *file != case.file) {
            let tmp = tempfile::tempdir().unwrap();
            for dir in ["fixtures", "tests"] {
                std::os::unix::fs::symlink(root.join(dir), tmp.path().join(dir)).unwrap();
            }
            scratch = Some((case.file.clone(), tmp));
        }
        let tmp = &scratch.as_ref().unwrap().1;
        match run(&root, tmp.path(), case, bless) {
            Ok(()) => passed += 1,
            Err(msg) => {
                failed += 1;
                eprintln!("FAILED {}:\n{msg}\n", case.file.display());
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || cases.is_empty() {
        std::process::exit(1);
    }
}

fn collect(dir: &Path, cases: &mut Vec<Case>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, cases);
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "stdout" | "stderr") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let commands: Vec<(Expect, String)> = text
            .lines()
            .map_while(|l| {
                let l = l.trim_start();
                ["#", ";;", "//"]
                    .iter()
                    .find_map(|c| l.strip_prefix(c))
                    .map(str::trim)
            })
            .filter_map(parse_header)
            .collect();
        let many = commands.len() > 1;
        for (i, (expect, args)) in commands.into_iter().enumerate() {
            cases.push(Case {
                file: path.clone(),
                index: many.then_some(i),
                args,
                expect,
            });
        }
    }
}

/// Runs one command in `tmp`, a scratch directory that sees the workspace's `fixtures/` and
/// `tests/` through symlinks, so book examples such as `-o composed.wasm` run verbatim and
/// leave nothing in the checkout.
fn run(root: &Path, tmp: &Path, case: &Case, bless: bool) -> Result<(), String> {
    let rel = case.file.strip_prefix(root).unwrap();
    let args: Vec<String> = case
        .args
        .split_whitespace()
        .map(|a| {
            a.replace("%tmp", &tmp.to_string_lossy())
                .replace("%root", &root.to_string_lossy())
                .replace('%', &rel.to_string_lossy())
        })
        .collect();
    let output = Command::new(env!("CARGO_BIN_EXE_wtool"))
        .args(&args)
        .current_dir(tmp)
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        // Each file gets its own config, keys and cache, and no registry from the environment.
        .env("WTOOL_CONFIG_DIR", tmp.join(".config/wtool"))
        .env("WTOOL_CACHE_DIR", tmp.join(".cache/wtool"))
        .env("XDG_CONFIG_HOME", tmp.join(".config"))
        .env_remove("WTOOL_REGISTRY")
        .env_remove("WTOOL_SIGNING_KEY")
        .env_remove("WKG_CONFIG_FILE")
        .output()
        .map_err(|e| format!("spawning wtool: {e}"))?;
    let normalize = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .replace(&*tmp.to_string_lossy(), "%tmp")
            .replace(&*root.to_string_lossy(), "%root")
            .replace("\r\n", "\n")
    };
    let mut problems = String::new();
    let as_expected = match case.expect {
        Expect::Success => output.status.success(),
        Expect::Failure => !output.status.success(),
        Expect::Code(code) => output.status.code() == Some(code),
    };
    if !as_expected {
        let expected = match case.expect {
            Expect::Success => "success".to_string(),
            Expect::Failure => "failure".to_string(),
            Expect::Code(code) => format!("exit code {code}"),
        };
        problems += &format!(
            "expected {expected} but wtool exited with {}\nstderr:\n{}\n",
            output.status,
            normalize(&output.stderr)
        );
    }
    if output.status.code().is_none() {
        problems += "wtool was killed by a signal (a panic abort?)\n";
    }
    if String::from_utf8_lossy(&output.stderr).contains("panicked at") {
        problems += "wtool panicked\n";
    }
    for (suffix, actual) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let name = match case.index {
            Some(i) => format!("{}.{i}.{suffix}", case.file.display()),
            None => format!("{}.{suffix}", case.file.display()),
        };
        let actual = normalize(actual);
        if bless {
            if actual.is_empty() {
                let _ = std::fs::remove_file(&name);
            } else {
                std::fs::write(&name, &actual).unwrap();
            }
            continue;
        }
        let expected = std::fs::read_to_string(&name).unwrap_or_default();
        if expected != actual {
            let diff = similar::TextDiff::from_lines(&expected, &actual);
            problems += &format!(
                "{suffix} differs from {name} (BLESS=1 rewrites it):\n{}\n",
                diff.unified_diff().header("expected", "actual")
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("wtool {}\n{problems}", args.join(" ")))
    }
}
