//! Running binaryen (the `wasm-opt` crate) on one core module, with exactly the features that
//! module uses, and checking what comes back.
//!
//! binaryen reads and writes files only, so the module passes through a private scratch
//! directory that is removed afterwards; no file of the caller's is touched.

use super::strip::{push_custom, split_module, strip_module, Strip, Tally};
use super::{Level, OptimizeOptions};
use crate::features::Feature;
use crate::validate::validate;
use std::collections::{BTreeSet, HashSet};
use std::time::Instant;
use wasm_opt::{Feature as B, FeatureBaseline, OptimizationOptions, Pass};

const THOROUGH_LIMIT: usize = 4 << 20;
use wasmparser::WasmFeatures;

/// The binaryen release the `wasm-opt` crate builds.
pub const BINARYEN_VERSION: &str = "binaryen version_116";

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
    let mut enabled = HashSet::new();
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
    // the module stops shrinking (`wasm-opt --gufa-optimizing -Oz --converge`). On the Rust
    // fixtures this takes binaryen 116 below what binaryen 130's plain -Oz gives (jco opt).
    // On a large interpreter each extra round costs as long as the first for a tiny gain, so
    // modules past 4 MB get the plain pipeline once.
    let thorough =
        matches!(options.level, Level::Os | Level::Oz) && split.code.len() < THOROUGH_LIMIT;
    let mut stages = Vec::new();
    if thorough {
        let mut gufa = options_for(options, &enabled, Level::Oz);
        gufa.passes.add_default_passes = false;
        gufa.add_pass(Pass::GufaOptimizing);
        stages.push(gufa);
    }
    let mut pipeline = options_for(options, &enabled, options.level);
    pipeline.converge = thorough;
    stages.push(pipeline);

    let mut from = input;
    for (n, stage) in stages.iter().enumerate() {
        let to = scratch.path().join(format!("out{n}.wasm"));
        stage.run(&from, &to).map_err(|e| {
            let mut msg = format!("binaryen failed: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                msg += &format!(": {cause}");
                source = cause.source();
            }
            msg
        })?;
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

/// binaryen's options for one run at `level`, with exactly the `enabled` features.
fn options_for(
    options: &OptimizeOptions,
    enabled: &HashSet<B>,
    level: Level,
) -> OptimizationOptions {
    let mut opts = match level {
        Level::O1 => OptimizationOptions::new_opt_level_1(),
        Level::O2 => OptimizationOptions::new_opt_level_2(),
        Level::O3 => OptimizationOptions::new_opt_level_3(),
        Level::O4 => OptimizationOptions::new_opt_level_4(),
        Level::Os => OptimizationOptions::new_optimize_for_size(),
        Level::Oz => OptimizationOptions::new_optimize_for_size_aggressively(),
    };
    opts.features.baseline = FeatureBaseline::MvpOnly;
    opts.features.enabled = enabled.clone();
    opts.debug_info(options.keep_names);
    opts.low_memory_unused(options.low_memory_unused);
    opts
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
fn binaryen_features(feature: Feature) -> Option<&'static [B]> {
    use Feature::*;
    Some(match feature {
        MutableGlobal => &[B::MutableGlobals],
        SaturatingFloatToInt => &[B::TruncSat],
        SignExtension => &[B::SignExt],
        ReferenceTypes => &[B::ReferenceTypes],
        MultiValue => &[B::Multivalue],
        BulkMemory | BulkMemoryOpt => &[B::BulkMemory],
        Simd => &[B::Simd],
        RelaxedSimd => &[B::Simd, B::RelaxedSimd],
        Threads => &[B::Atomics],
        TailCall => &[B::TailCall],
        MultiMemory => &[B::MultiMemory],
        // binaryen 116 knows the legacy `try`/`catch` form only, not `try_table` and exnref.
        LegacyExceptions => &[B::ExceptionHandling],
        Memory64 => &[B::Memory64],
        ExtendedConst => &[B::ExtendedConst],
        FunctionReferences | Gc | GcTypes => &[B::ReferenceTypes, B::Gc],
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
