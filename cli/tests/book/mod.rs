//! The book's examples as test cases: every fenced `console` block of `book/src/*.md` is run.
//!
//! In a `console` block, a line `$ wtool ARGS` is a command (a trailing `\` continues it on the
//! next line) and the lines after it, up to the next `$` line, are what it prints: its stdout,
//! then its stderr. In the shown output, `…` stands for any text within a line, and a line
//! that is only `…` (indented or not) for any number of lines. A command whose output shows an `error:` line
//! must fail; every other command must succeed. The commands of one page share a scratch
//! directory, as the commands of one case file do. Blocks that show anything else than wtool
//! (`cargo install`, a registry that the tests cannot reach) are written as `sh` or `text`.

use std::path::{Path, PathBuf};

/// One `$ wtool …` line of a page and the output shown under it.
pub struct Example {
    pub page: PathBuf,
    /// 1-based line of the `$` in the page.
    pub line: usize,
    pub args: String,
    pub shown: String,
    pub should_fail: bool,
}

/// The examples of every page under `book/src`, in page order.
pub fn collect(book: &Path) -> Result<Vec<Example>, String> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(book)
        .map_err(|e| format!("reading {}: {e}", book.display()))?
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    let mut examples = Vec::new();
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        examples.extend(parse(&page, &text)?);
    }
    Ok(examples)
}

fn parse(page: &Path, text: &str) -> Result<Vec<Example>, String> {
    let mut examples: Vec<Example> = Vec::new();
    let mut in_console = false;
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let fence = line.trim_start();
        if !in_console {
            in_console = fence == "```console";
            continue;
        }
        if fence.starts_with("```") {
            in_console = false;
            continue;
        }
        let Some(command) = line.strip_prefix("$ ") else {
            let Some(last) = examples.last_mut().filter(|e| e.page == page) else {
                return Err(format!(
                    "{}:{}: output before the first `$` line of a console block",
                    page.display(),
                    i + 1
                ));
            };
            last.shown.push_str(line);
            last.shown.push('\n');
            continue;
        };
        let mut command = command.trim_end().to_string();
        while let Some(start) = command.strip_suffix('\\') {
            let next = lines.next().map(|(_, l)| l.trim()).unwrap_or("");
            command = format!("{} {next}", start.trim_end());
        }
        let Some(args) = command.strip_prefix("wtool ") else {
            return Err(format!(
                "{}:{}: a console block runs wtool only, not `{command}`; show other commands \
                 in an `sh` or `text` block",
                page.display(),
                i + 1
            ));
        };
        examples.push(Example {
            page: page.to_path_buf(),
            line: i + 1,
            args: args.to_string(),
            shown: String::new(),
            should_fail: false,
        });
    }
    for example in &mut examples {
        let trimmed = example.shown.trim_end_matches('\n').len();
        example.shown.truncate(trimmed);
        if !example.shown.is_empty() {
            example.shown.push('\n');
        }
        example.should_fail = example.shown.lines().any(|l| l.starts_with("error:"));
    }
    Ok(examples)
}

/// Whether `actual` is what `shown` shows, with `…` as described in the module comment.
pub fn matches(shown: &str, actual: &str) -> bool {
    let shown: Vec<&str> = shown.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    lines_match(&shown, &actual)
}

fn lines_match(shown: &[&str], actual: &[&str]) -> bool {
    match shown.split_first() {
        None => actual.is_empty(),
        Some((line, rest)) if line.trim() == "…" => {
            (0..=actual.len()).any(|skip| lines_match(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(line, more)| line_matches(first, line) && lines_match(rest, more)),
    }
}

/// Trailing blanks are not compared: editors strip them from the pages.
fn line_matches(shown: &str, actual: &str) -> bool {
    let (shown, actual) = (shown.trim_end(), actual.trim_end());
    let mut pieces = shown.split('…');
    let first = pieces.next().unwrap_or("");
    let Some(mut rest) = actual.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The matcher must be able to say no, or the book would check nothing.
pub fn check_matcher() {
    assert!(matches("a\n…\nz\n", "a\nb\nc\nz\n"));
    assert!(matches("a\n    …\nz\n", "a\nz\n"));
    assert!(matches("wrote … (… bytes)\n", "wrote x.wasm (12 bytes)\n"));
    assert!(!matches("a\nz\n", "a\nb\nz\n"));
    assert!(!matches("wrote …x\n", "wrote y\n"));
    assert!(!matches("", "something\n"));
}
