//! Running binaryen (the `wasm-opt` crate) on one core module, with exactly the features that
//! module uses, and checking what comes back.
//!
//! binaryen reads and writes files only, so the module passes through a private scratch
//! directory that is removed afterwards; no file of the caller's is touched.

use super::strip::{push_custom, split_module, strip_module, Strip, Tally};
use super::{Level, OptimizeOptions};
use crate::features::Feature;
use crate::validate::validate;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;
use wasmparser::WasmFeatures;

/// Modules up to this size get binaryen's whole-module inference and repeated pipeline at
/// -Os/-Oz; past it (an interpreter, say) each extra round costs as long as the first.
const THOROUGH_LIMIT: usize = 4 << 20;

/// The binaryen release the `wasm-opt` crate builds, which `wtool-binaryen` runs.
pub const BINARYEN_VERSION: &str = "binaryen version_116";

/// Runs binaryen: a `wasm-opt` command line (input, `-o` output, flags), carried out by whoever
/// the caller chose. `wtool` runs it in a helper process, so that the commands which never
/// optimize do not pay for binaryen's start-up; the tests run it in-process.
pub trait WasmOpt: Send + Sync + fmt::Debug {
    /// Runs `wasm-opt` with `args`; the error is what it said.
    fn run(&self, args: &[OsString]) -> Result<(), String>;
}

/// An executable with `wasm-opt`'s command line: `wtool-binaryen`, or binaryen's own
/// `wasm-opt` (116 or newer).
#[derive(Clone, Debug)]
pub struct WasmOptCommand(
    /// The executable.
    pub PathBuf,
);

impl WasmOpt for WasmOptCommand {
    fn run(&self, args: &[OsString]) -> Result<(), String> {
        let output = std::process::Command::new(&self.0)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run `{}`: {e}", self.0.display()))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = stderr.trim();
        Err(if said.is_empty() {
            format!("`{}` exited with {}", self.0.display(), output.status)
        } else {
            said.to_string()
        })
    }
}

/// A module after optimization, or as it was with the reason in `note`.
pub(crate) struct Outcome {
    pub bytes: Vec<u8>,
    pub note: Option<String>,
    pub stripped: Tally,
    pub time_ms: f64,
}

pub(crate) fn optimize_module(module: &[u8], options: &OptimizeOptions) -> Outcome {
    let start = Instant::now();
    let result = try_optimize(module, options);
    let time_ms = start.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok((bytes, stripped)) => Outcome {
            bytes,
            note: None,
            stripped,
            time_ms,
        },
        Err(reason) => {
            // Kept as it was; stripping what was asked for removes whole sections only.
            let mut stripped = Tally::default();
            let bytes = if options.strip == Strip::Nothing {
                module.to_vec()
            } else {
                match strip_module(module, options.strip, options.keep_names, &mut stripped) {
                    Ok(bytes) => bytes,
                    Err(_) => {
                        stripped = Tally::default();
                        module.to_vec()
                    }
                }
            };
            Outcome {
                bytes,
                note: Some(reason),
                stripped,
                time_ms,
            }
        }
    }
}

fn try_optimize(module: &[u8], options: &OptimizeOptions) -> Result<(Vec<u8>, Tally), String> {
    let used = features_of(module)
        .map_err(|e| format!("it does not validate on its own ({e}), so binaryen was not run"))?;
    let mut enabled = BTreeSet::new();
    for feature in &used {
        match binaryen_features(*feature) {
            Some(list) => enabled.extend(list.iter().copied()),
            None => {
                return Err(format!(
                    "{BINARYEN_VERSION} does not support `{feature}`, which it uses"
                ))
            }
        }
    }
    let split = split_module(module, options.strip, options.keep_names)
        .map_err(|e| format!("its sections cannot be read: {e}"))?;

    let scratch = tempfile::Builder::new()
        .prefix("wtool-optimize-")
        .tempdir()
        .map_err(|e| format!("no scratch directory for binaryen: {e}"))?;
    let input = scratch.path().join("in.wasm");
    std::fs::write(&input, &split.code)
        .map_err(|e| format!("cannot write binaryen's input to the scratch directory: {e}"))?;

    // For the size levels, binaryen first infers what it can across the whole module (GUFA:
    // constant results, unreachable calls, unused imports) and then runs its pipeline until
    // the module stops shrinking (`wasm-opt --gufa-optimizing`, then `-Oz --converge`). On the
    // Rust fixtures this takes binaryen 116 below what binaryen 130's plain -Oz gives (jco
    // opt). On a large interpreter each extra round costs as long as the first for a tiny
    // gain, so modules past 4 MB get the plain pipeline once.
    let thorough =
        matches!(options.level, Level::Os | Level::Oz) && split.code.len() < THOROUGH_LIMIT;
    let mut common: Vec<OsString> = vec!["--mvp-features".into()];
    common.extend(enabled.iter().map(|f| format!("--enable-{f}").into()));
    if options.keep_names {
        common.push("--debuginfo".into());
    }
    if options.low_memory_unused {
        common.push("--low-memory-unused".into());
    }
    let mut stages: Vec<Vec<OsString>> = Vec::new();
    if thorough {
        // The pass alone, at -Oz's levels for the clean-up it does.
        stages.push(vec![
            "--optimize-level".into(),
            "2".into(),
            "--shrink-level".into(),
            "2".into(),
            "--gufa-optimizing".into(),
        ]);
    }
    let mut pipeline: Vec<OsString> = vec![options.level.to_string().into()];
    if thorough {
        pipeline.push("--converge".into());
    }
    stages.push(pipeline);

    let mut from = input;
    for (n, stage) in stages.into_iter().enumerate() {
        let to = scratch.path().join(format!("out{n}.wasm"));
        let mut args: Vec<OsString> = vec![from.into(), "-o".into(), to.clone().into()];
        args.extend(common.iter().cloned());
        args.extend(stage);
        options
            .wasm_opt
            .run(&args)
            .map_err(|e| format!("binaryen failed: {e}"))?;
        from = to;
    }
    let output = from;
    let mut out = std::fs::read(&output)
        .map_err(|e| format!("cannot read binaryen's output from the scratch directory: {e}"))?;
    for (name, data) in &split.after {
        push_custom(&mut out, name, data);
    }

    // binaryen validated its own output; this checks it with wasmparser, and that it needs
    // nothing the input did not.
    let after = features_of(&out).map_err(|e| format!("binaryen's output is invalid ({e})"))?;
    let new: Vec<&str> = after
        .difference(&allowed(&used))
        .map(|f| f.name())
        .collect::<Vec<_>>();
    if !new.is_empty() {
        return Err(format!(
            "binaryen's output uses {}, which the module did not",
            new.join(", ")
        ));
    }
    Ok((out, split.stripped))
}

/// What an optimized module may use, given what the original used. binaryen has one switch
/// for bulk memory: a module with `memory.copy` or `memory.fill` (bulk-memory-opt) may come
/// back with `memory.init` and `data.drop` from the rest of that proposal.
pub(crate) fn allowed(used: &BTreeSet<Feature>) -> BTreeSet<Feature> {
    let mut allowed = used.clone();
    if used.contains(&Feature::BulkMemoryOpt) {
        allowed.insert(Feature::BulkMemory);
    }
    allowed
}

/// The post-MVP features a valid module uses.
fn features_of(module: &[u8]) -> Result<BTreeSet<Feature>, String> {
    validate("module", module, WasmFeatures::all())
        .map(|report| report.features.iter().map(|u| u.feature).collect())
        .map_err(|e| match e {
            crate::validate::ValidateError::Invalid {
                message, offset, ..
            } => format!("{message} at offset {offset:#x}"),
            other => other.to_string(),
        })
}

/// binaryen's names for what a module using `feature` needs; `None` if binaryen lacks it.
fn binaryen_features(feature: Feature) -> Option<&'static [&'static str]> {
    use Feature::*;
    Some(match feature {
        MutableGlobal => &["mutable-globals"],
        SaturatingFloatToInt => &["nontrapping-float-to-int"],
        SignExtension => &["sign-ext"],
        ReferenceTypes => &["reference-types"],
        MultiValue => &["multivalue"],
        BulkMemory | BulkMemoryOpt => &["bulk-memory"],
        Simd => &["simd"],
        RelaxedSimd => &["simd", "relaxed-simd"],
        Threads => &["threads"],
        TailCall => &["tail-call"],
        MultiMemory => &["multimemory"],
        // binaryen 116 knows the legacy `try`/`catch` form only, not `try_table` and exnref.
        LegacyExceptions => &["exception-handling"],
        Memory64 => &["memory64"],
        ExtendedConst => &["extended-const"],
        FunctionReferences | Gc | GcTypes => &["reference-types", "gc"],
        Exceptions
        | SharedEverythingThreads
        | CustomPageSizes
        | StackSwitching
        | WideArithmetic
        | MemoryControl
        | CustomDescriptors
        | ComponentModel
        | CmAsync
        | CmAsyncStackful
        | CmMoreAsyncBuiltins
        | CmThreading
        | CmErrorContext
        | CmFixedLengthLists
        | CmGc
        | CmMap
        | Cm64
        | CmValues => return None,
    })
}
