//! `optimize`: validate the input → find every core module and nested component at every
//! depth → plan deduplication → run binaryen on each distinct module, with exactly the features
//! it uses → re-encode the component around the new modules → strip → validate the output with
//! the input's features.
//!
//! A module binaryen cannot take (a feature it lacks, an error, an output that would need more
//! features than the input) is kept as it was, and the report says why. The output is only
//! returned once it validates, so a caller never writes an invalid artifact.

mod binaryen;
mod dedup;
mod report;
mod rewrite;
mod strip;
mod walk;

use crate::features::Feature;
use crate::input::{classify, ArtifactKind, InputError};
use crate::validate::{validate, ValidateError};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;
use wasmparser::WasmFeatures;

pub use binaryen::{WasmOpt, WasmOptCommand, BINARYEN_VERSION};
pub use report::Text;
pub use strip::Strip;

/// binaryen's optimization levels, as `wasm-opt` spells them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Level {
    /// `-O1`: quick passes only.
    #[serde(rename = "-O1")]
    O1,
    /// `-O2`: most passes.
    #[serde(rename = "-O2")]
    O2,
    /// `-O3`: every pass for speed, taking longer.
    #[serde(rename = "-O3")]
    O3,
    /// `-O4`: `-O3` with more flattening and inlining.
    #[serde(rename = "-O4")]
    O4,
    /// `-Os`: for size, keeping speed (the default).
    #[default]
    #[serde(rename = "-Os")]
    Os,
    /// `-Oz`: for size above all.
    #[serde(rename = "-Oz")]
    Oz,
}

impl Level {
    /// Every level, from `-O1` to `-Oz`.
    pub const ALL: [Level; 6] = [
        Level::O1,
        Level::O2,
        Level::O3,
        Level::O4,
        Level::Os,
        Level::Oz,
    ];

    /// The letter after `-O`: `1`..`4`, `s`, `z`.
    pub fn suffix(self) -> &'static str {
        match self {
            Level::O1 => "1",
            Level::O2 => "2",
            Level::O3 => "3",
            Level::O4 => "4",
            Level::Os => "s",
            Level::Oz => "z",
        }
    }

    /// Parses `1`, `O1`, `-O1`, `s`, `Oz`, ...
    pub fn parse(text: &str) -> Option<Level> {
        let text = text.strip_prefix('-').unwrap_or(text);
        let text = text.strip_prefix('O').unwrap_or(text);
        Level::ALL.into_iter().find(|l| l.suffix() == text)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-O{}", self.suffix())
    }
}

/// How to optimize.
#[derive(Clone, Debug)]
pub struct OptimizeOptions {
    /// What runs binaryen.
    pub wasm_opt: Arc<dyn WasmOpt>,
    /// binaryen's optimization level.
    pub level: Level,
    /// Which custom sections to remove besides those optimization makes stale.
    pub strip: Strip,
    /// Keep the `name` sections (function and other names), through binaryen too.
    pub keep_names: bool,
    /// Let binaryen assume that no code touches the first 1024 bytes of memory (as LLVM's
    /// output does not), which folds more address arithmetic; `jco opt` assumes it by default.
    pub low_memory_unused: bool,
    /// Features the input is validated with, and then the output; `None` tries wasmparser's
    /// defaults and falls back to every feature.
    pub features: Option<WasmFeatures>,
}

impl OptimizeOptions {
    /// The defaults (-Os, strip nothing), with binaryen run by `wasm_opt`.
    pub fn new(wasm_opt: Arc<dyn WasmOpt>) -> Self {
        OptimizeOptions {
            wasm_opt,
            level: Level::default(),
            strip: Strip::default(),
            keep_names: false,
            low_memory_unused: false,
            features: None,
        }
    }
}

/// What [`optimize`] returns.
pub struct Optimized {
    /// The optimized, validated component or module.
    pub bytes: Vec<u8>,
    /// What was done to it.
    pub report: OptimizeReport,
}

/// What happened, for people (the `Display` impl) and machines (`Serialize`).
#[derive(Debug, Serialize)]
pub struct OptimizeReport {
    /// The input's name.
    pub input: String,
    /// The level binaryen ran at.
    pub level: Level,
    /// The binaryen release that ran.
    pub binaryen: &'static str,
    /// The input's size in bytes.
    pub size_before: usize,
    /// The output's size in bytes.
    pub size_after: usize,
    /// Every distinct core module, in file order, with what was done to it.
    pub modules: Vec<ModuleReport>,
    /// Copies that were dropped because an identical module or component came earlier.
    pub deduplicated: Vec<Duplicate>,
    /// Custom sections removed, by name, over all modules and components.
    pub stripped: Vec<StrippedSection>,
    /// Wall-clock time of the whole optimization, validation included.
    pub time_ms: f64,
}

/// What was done to one core module.
#[derive(Debug, Serialize)]
pub struct ModuleReport {
    /// `core module 0 of component 1`, numbered as `wtool validate` numbers them.
    pub location: String,
    /// The module's size before, in bytes.
    pub size_before: usize,
    /// The module's size after, in bytes.
    pub size_after: usize,
    /// `optimized`, or `unchanged` with the reason in `note`.
    pub status: ModuleStatus,
    /// Why the module is unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Time binaryen spent on it.
    pub time_ms: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
/// Whether a module was optimized.
pub enum ModuleStatus {
    /// binaryen's output replaced it.
    Optimized,
    /// It is kept as it was; the note says why.
    Unchanged,
}

/// A copy of a module or component that was dropped for an identical earlier one.
#[derive(Debug, Serialize)]
pub struct Duplicate {
    /// What was dropped.
    pub kind: DuplicateKind,
    /// The copy that was dropped.
    pub location: String,
    /// The copy that is kept (for modules, it may have moved up to an enclosing component).
    pub same_as: String,
    /// Size of the dropped copy in the input.
    pub size: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
/// What a dropped copy was.
pub enum DuplicateKind {
    /// A core module.
    CoreModule,
    /// A nested component.
    Component,
}

/// Custom sections of one name that were removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StrippedSection {
    /// The sections' name.
    pub name: String,
    /// How many were removed.
    pub count: usize,
    /// Their total size in bytes.
    pub bytes: usize,
}

#[allow(clippy::result_large_err)] // made once per run, like `ValidateError`
#[derive(Debug, thiserror::Error)]
/// Why [`optimize`] failed.
pub enum OptimizeError {
    /// The input could not be read at all.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The input is a WIT package.
    #[error(
        "`{name}` is a binary WIT package: it describes interfaces and has no code to optimize"
    )]
    WitPackage {
        /// The input's name.
        name: String,
    },
    /// The input does not validate.
    #[error(transparent)]
    InvalidInput(ValidateError),
    /// The output does not validate.
    #[error(
        "the optimized `{name}` does not validate ({detail}); no output was written. This is a \
         bug in wtool, please report it with the input"
    )]
    InvalidOutput {
        /// The input's name.
        name: String,
        /// What the validator said.
        detail: String,
    },
    /// The output needs features the input did not.
    #[error(
        "the optimized `{name}` uses {features}, which the input did not use; no output was \
         written. This is a bug in wtool, please report it with the input"
    )]
    NewFeatures {
        /// The input's name.
        name: String,
        /// The new features.
        features: String,
    },
}

/// Optimizes the component or core module `bytes`, named `name` in messages.
#[allow(clippy::result_large_err)] // see `OptimizeError`
pub fn optimize(
    name: &str,
    bytes: &[u8],
    options: &OptimizeOptions,
) -> Result<Optimized, OptimizeError> {
    let start = Instant::now();
    let kind = classify(name, bytes)?;
    if kind == ArtifactKind::WitPackage {
        return Err(OptimizeError::WitPackage {
            name: name.to_string(),
        });
    }
    let (features, used) = validate_input(name, bytes, options.features)?;

    let tree = walk::scan(bytes, kind).map_err(|e| {
        OptimizeError::InvalidInput(ValidateError::Input(InputError::Malformed {
            name: name.to_string(),
            kind,
            message: e.message().to_string(),
            offset: e.offset() as usize,
        }))
    })?;
    let plan = dedup::plan(&tree);
    let outcomes: Vec<binaryen::Outcome> = plan
        .unique
        .iter()
        .map(|&site| binaryen::optimize_module(&bytes[tree.modules[site].range.clone()], options))
        .collect();

    let mut stripped = strip::Tally::default();
    for outcome in &outcomes {
        stripped.merge(&outcome.stripped);
    }
    let out = match kind {
        ArtifactKind::CoreModule => strip::add_processed_by(&outcomes[0].bytes),
        _ => rewrite::rewrite(bytes, &tree, &plan, &outcomes, options, &mut stripped).map_err(
            |detail| OptimizeError::InvalidOutput {
                name: name.to_string(),
                detail,
            },
        )?,
    };

    validate_output(name, &out, features, &used)?;

    let modules = plan
        .unique
        .iter()
        .zip(&outcomes)
        .map(|(&site, outcome)| ModuleReport {
            location: tree.modules[site].location(),
            size_before: tree.modules[site].range.len(),
            size_after: outcome.bytes.len(),
            status: if outcome.note.is_none() {
                ModuleStatus::Optimized
            } else {
                ModuleStatus::Unchanged
            },
            note: outcome.note.clone(),
            time_ms: outcome.time_ms,
        })
        .collect();
    Ok(Optimized {
        report: OptimizeReport {
            input: name.to_string(),
            level: options.level,
            binaryen: BINARYEN_VERSION,
            size_before: bytes.len(),
            size_after: out.len(),
            modules,
            deduplicated: plan.duplicates(&tree),
            stripped: stripped.into_sorted(),
            time_ms: start.elapsed().as_secs_f64() * 1000.0,
        },
        bytes: out,
    })
}

/// Validates the input and returns the feature set it validated with and the features it uses.
#[allow(clippy::result_large_err)] // see `OptimizeError`
fn validate_input(
    name: &str,
    bytes: &[u8],
    features: Option<WasmFeatures>,
) -> Result<(WasmFeatures, BTreeSet<Feature>), OptimizeError> {
    let attempt = |set| validate(name, bytes, set).map(|report| (set, report));
    let (set, report) = match features {
        Some(set) => attempt(set),
        // Invalid even with every feature: the first error explains it without suggesting
        // features, unless that error was a missing feature.
        None => attempt(WasmFeatures::default()).or_else(|first| {
            attempt(WasmFeatures::all()).map_err(|all| match &first {
                ValidateError::Invalid {
                    missing_features, ..
                } if missing_features.is_empty() => first,
                _ => all,
            })
        }),
    }
    .map_err(OptimizeError::InvalidInput)?;
    Ok((set, report.features.iter().map(|u| u.feature).collect()))
}

#[allow(clippy::result_large_err)] // see `OptimizeError`
fn validate_output(
    name: &str,
    bytes: &[u8],
    features: WasmFeatures,
    used: &BTreeSet<Feature>,
) -> Result<(), OptimizeError> {
    let report = validate(name, bytes, features).map_err(|e| OptimizeError::InvalidOutput {
        name: name.to_string(),
        detail: e.to_string(),
    })?;
    let new: Vec<&str> = report
        .features
        .iter()
        .map(|u| u.feature)
        .filter(|f| !binaryen::allowed(used).contains(f))
        .map(Feature::name)
        .collect();
    if !new.is_empty() {
        return Err(OptimizeError::NewFeatures {
            name: name.to_string(),
            features: new.join(", "),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
