//! `wtool optimize`: shrink a component with binaryen, deduplicate and strip, and prove the
//! result still validates.

use super::GlobalOpts;
use crate::input::InputFile;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use wtool_compose::features::parse_features;
use wtool_compose::optimize::{optimize, Level, OptimizeOptions, Strip};

/// Optimize every core module of a component with binaryen, at every nesting depth.
///
/// Each module gets exactly the features it uses; one binaryen cannot handle is kept as it
/// was, and the report says why. Identical modules and components are kept once. The output
/// is validated with the input's features before it is written.
#[derive(clap::Args)]
pub struct Args {
    /// The component or core module (.wasm, or .wat text).
    input: PathBuf,
    /// Where to write the optimized artifact.
    #[arg(short, long)]
    output: PathBuf,
    /// Optimization level, as wasm-opt spells it: -O1, -O2, -O3, -O4, -Os or -Oz.
    #[arg(short = 'O', value_name = "LEVEL", value_parser = parse_level, default_value = "s")]
    level: Level,
    /// Remove debug information: DWARF, source maps and `name` sections.
    #[arg(long)]
    strip_debug: bool,
    /// Remove every custom section but `component-type`, `producers` and `dylink.0`.
    #[arg(long)]
    strip_all: bool,
    /// Keep `name` sections (function and other names), also in optimized modules.
    #[arg(long)]
    keep_names: bool,
    /// Let binaryen assume code never touches the first 1024 bytes of memory, as with
    /// LLVM-built modules; `jco opt` assumes this by default.
    #[arg(long)]
    low_memory_unused: bool,
    /// Features the input and the output are validated with, as `wtool validate --features`
    /// takes them (default: wasmparser's, or all if the input needs more).
    #[arg(long, value_name = "LIST")]
    features: Vec<String>,
    /// Print the time each module and the whole run took.
    #[arg(long)]
    time: bool,
}

/// Parses the value of `-O` and `--optimize=`: `1`..`4`, `s` or `z`.
pub fn parse_level(text: &str) -> Result<Level, String> {
    Level::parse(text).ok_or_else(|| {
        format!("unknown optimization level `{text}`; use 1, 2, 3, 4, s (size) or z (smallest)")
    })
}

impl Args {
    pub fn run(self, global: &GlobalOpts) -> Result<ExitCode> {
        let features = if self.features.is_empty() {
            None
        } else {
            Some(parse_features(&self.features)?)
        };
        let strip = if self.strip_all {
            Strip::All
        } else if self.strip_debug {
            Strip::Debug
        } else {
            Strip::Nothing
        };
        let input = InputFile::read(&self.input)?;
        let options = OptimizeOptions {
            wasm_opt: crate::binaryen::wasm_opt()?,
            level: self.level,
            strip,
            keep_names: self.keep_names,
            low_memory_unused: self.low_memory_unused,
            features,
        };
        let optimized = optimize(&input.name(), &input.bytes, &options)?;
        crate::atomic::write(&self.output, &optimized.bytes)?;

        let mut json = serde_json::to_value(&optimized.report)?;
        if !self.time {
            drop_times(&mut json);
        }
        global.output().summary(&json, || {
            format!(
                "{}wrote {} ({} bytes)\n",
                optimized.report.text(self.time),
                self.output.display(),
                optimized.bytes.len()
            )
        })?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Removes every `time_ms` field, so that the JSON of one input is always the same.
pub fn drop_times(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("time_ms");
            map.values_mut().for_each(drop_times);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_times),
        _ => {}
    }
}
