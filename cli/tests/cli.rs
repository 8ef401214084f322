//! Data-driven CLI tests, in the style of wasm-tools' `tests/cli/`, and the book's examples.
//!
//! Every file under `<workspace>/tests/cli/` whose header has `RUN:` or `FAIL:` lines is a case.
//! The header comment may start with `;;`, `//` or `#`. In the command, `%` is the case file,
//! `%tmp` the scratch directory shared by the commands of one file and `%root` the workspace
//! root. A `RUN:` must exit 0, a `FAIL:` must not, and a `FAIL(N):` must exit with code N (the
//! codes `wtool --help` lists). Commands run in a scratch directory where
//! `fixtures/` and `tests/` resolve to the workspace's. Stdout and stderr are compared with
//! `<file>.stdout` / `<file>.stderr` (`<file>.<n>.stdout` when a file has several commands);
//! `BLESS=1` rewrites them. A golden file that no command writes is an error (`BLESS=1`
//! removes it), so that a removed command cannot leave an expectation that is never compared.
//!
//! The `console` blocks of `book/src/*.md` are cases too (see `book/mod.rs`), compared with
//! the output the book shows; `BLESS` does not touch them.

mod book;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Case {
    file: PathBuf,
    args: String,
    exit: Exit,
    expect: Expect,
}

/// How a command must end.
#[derive(Clone, Copy, PartialEq)]
enum Exit {
    Success,
    Failure,
    Code(i32),
}

/// `RUN: args`, `FAIL: args` or `FAIL(N): args`.
fn parse_header(line: &str) -> Option<(Exit, String)> {
    if let Some(args) = line.strip_prefix("RUN:") {
        return Some((Exit::Success, args.trim().to_string()));
    }
    if let Some(args) = line.strip_prefix("FAIL:") {
        return Some((Exit::Failure, args.trim().to_string()));
    }
    let rest = line.strip_prefix("FAIL(")?;
    let (code, args) = rest.split_once("):")?;
    let code = code
        .parse()
        .unwrap_or_else(|_| panic!("`FAIL({code}):` needs a number"));
    Some((Exit::Code(code), args.trim().to_string()))
}

enum Expect {
    /// Golden files beside the case file; `Some(n)` when the file has several commands.
    Golden(Option<usize>),
    /// The output a book page shows under the command at this line.
    Shown { line: usize, output: String },
}

fn main() {
    // Read at run time: a warm target dir shared by clones at different paths can hand us a
    // binary compiled in another clone.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let bless = std::env::var_os("BLESS").is_some();
    let mut problems = Vec::new();

    let mut cases = Vec::new();
    collect(&root.join("tests/cli"), &mut cases);
    problems.extend(orphan_goldens(&root.join("tests/cli"), &cases, bless));
    book::check_matcher();
    match book::collect(&root.join("book/src")) {
        Ok(examples) => cases.extend(examples.into_iter().map(|e| Case {
            file: e.page,
            args: e.args,
            exit: if e.should_fail {
                Exit::Failure
            } else {
                Exit::Success
            },
            expect: Expect::Shown {
                line: e.line,
                output: e.shown,
            },
        })),
        Err(e) => problems.push(e),
    }
    cases.retain(|c| {
        filter
            .as_ref()
            .is_none_or(|f| c.file.to_string_lossy().contains(f.as_str()))
    });
    let helper = Path::new(env!("CARGO_BIN_EXE_wtool")).with_file_name("wtool-binaryen");
    if !helper.exists() {
        eprintln!(
            "note: {} is missing, so the optimize cases fail; build it with `cargo build -p \
             wtool-binaryen` (`cargo test --workspace` does)",
            helper.display()
        );
    }

    let (mut passed, mut failed) = (0, problems.len());
    for problem in &problems {
        eprintln!("FAILED: {problem}\n");
    }
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
                let at = match &case.expect {
                    Expect::Shown { line, .. } => format!(":{line}"),
                    Expect::Golden(_) => String::new(),
                };
                eprintln!("FAILED {}{at}:\n{msg}\n", case.file.display());
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
        if is_golden(&path) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let commands: Vec<(Exit, String)> = text
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
        for (i, (exit, args)) in commands.into_iter().enumerate() {
            cases.push(Case {
                file: path.clone(),
                args,
                exit,
                expect: Expect::Golden(many.then_some(i)),
            });
        }
    }
}

fn is_golden(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("stdout" | "stderr")
    )
}

fn golden(file: &Path, index: Option<usize>, stream: &str) -> PathBuf {
    PathBuf::from(match index {
        Some(i) => format!("{}.{i}.{stream}", file.display()),
        None => format!("{}.{stream}", file.display()),
    })
}

/// Golden files under `dir` that no case compares; `bless` removes them.
fn orphan_goldens(dir: &Path, cases: &[Case], bless: bool) -> Vec<String> {
    let expected: BTreeSet<PathBuf> = cases
        .iter()
        .flat_map(|c| match c.expect {
            Expect::Golden(index) => ["stdout", "stderr"].map(|s| Some(golden(&c.file, index, s))),
            Expect::Shown { .. } => [None, None],
        })
        .flatten()
        .collect();
    let mut found = Vec::new();
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if is_golden(&path) {
                found.push(path);
            }
        }
    }
    walk(dir, &mut found);
    found.sort();
    let mut problems = Vec::new();
    for path in found.into_iter().filter(|p| !expected.contains(p)) {
        if bless {
            std::fs::remove_file(&path).unwrap();
        } else {
            problems.push(format!(
                "{} is compared by no command of its case file (BLESS=1 removes it)",
                path.display()
            ));
        }
    }
    problems
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
    // Each file gets its own config, keys and cache, and no registry from the environment.
    let output = wtool_testkit::wtool::isolate(&mut Command::new(env!("CARGO_BIN_EXE_wtool")), tmp)
        .args(&args)
        .current_dir(tmp)
        .output()
        .map_err(|e| format!("spawning wtool: {e}"))?;
    let normalize = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .replace(&*tmp.to_string_lossy(), "%tmp")
            .replace(&*root.to_string_lossy(), "%root")
            .replace("\r\n", "\n")
    };
    let mut problems = String::new();
    let as_expected = match case.exit {
        Exit::Success => output.status.success(),
        Exit::Failure => !output.status.success(),
        Exit::Code(code) => output.status.code() == Some(code),
    };
    if !as_expected {
        let expected = match case.exit {
            Exit::Success => "success".to_string(),
            Exit::Failure => "failure".to_string(),
            Exit::Code(code) => format!("exit code {code}"),
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
    match &case.expect {
        Expect::Golden(index) => {
            for (stream, actual) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
                let name = golden(&case.file, *index, stream);
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
                    problems += &format!(
                        "{stream} differs from {} (BLESS=1 rewrites it):\n{}\n",
                        name.display(),
                        diff(&expected, &actual)
                    );
                }
            }
        }
        Expect::Shown { output: shown, .. } => {
            let actual = normalize(&output.stdout) + &normalize(&output.stderr);
            if !book::matches(shown, &actual) {
                problems += &format!(
                    "the output differs from what the book shows (`…` matches anything; edit \
                     the page):\n{}\n",
                    diff(shown, &actual)
                );
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("wtool {}\n{problems}", args.join(" ")))
    }
}

fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .header("expected", "actual")
        .to_string()
}
