//! `wtool validate`: validity, the features an artifact uses, and whether a target has them.

use super::GlobalOpts;
use crate::exit::Code;
use crate::input::InputFile;
use crate::output::Output;
use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use wtool_compose::features::parse_features;
use wtool_compose::input::ArtifactKind;
use wtool_compose::profile::{profile, Profile, PROFILES};
use wtool_compose::validate::{check, validate, violations, FeatureUse, Report};

/// Validate a module or component and report the post-MVP features it uses.
#[derive(clap::Args)]
#[command(after_help = target_help())]
pub struct Args {
    /// The module or component (.wasm, or .wat text).
    pub file: PathBuf,
    /// Features to enable, in wasm-tools syntax: names such as `tail-call`, `-simd` to
    /// disable, `all`, `-all`, or a spec level (`wasm1`, `wasm2`, `wasm3`, `lime1`). Lists are
    /// comma-separated, the option repeatable, and everything applies left to right to
    /// wasmparser's default set.
    #[arg(long, value_name = "LIST")]
    pub features: Vec<String>,
    /// Fail unless the artifact only uses what PROFILE supports (see below).
    #[arg(long, value_name = "PROFILE")]
    pub target: Option<String>,
    /// Print the time validation took on stderr.
    #[arg(long)]
    pub time: bool,
}

fn target_help() -> String {
    let mut help = String::from("Targets:\n");
    for p in &PROFILES {
        help += &format!("  {:<16}{}\n", p.name, p.description);
    }
    help
}

impl Args {
    pub fn run(self, global: &GlobalOpts) -> Result<ExitCode> {
        let out = global.output();
        if out.quiet && !out.json && self.target.is_none() {
            // Nothing but the exit code is shown, so no report is made.
            self.validity()?;
            return Ok(ExitCode::SUCCESS);
        }
        match self.check() {
            Ok((name, report, target)) => self.report(out, &name, &report, target),
            Err(err) => {
                // The JSON says it is invalid; the error itself goes to stderr as always.
                if out.json {
                    let file = self.file.display().to_string();
                    let errors = [format!("{err:#}")];
                    crate::output::json(&Invalid {
                        file: &file,
                        valid: false,
                        errors: &errors,
                    })?;
                }
                Err(err)
            }
        }
    }

    /// Validity alone, for `-q`.
    fn validity(&self) -> Result<()> {
        let features = parse_features(&self.features)?;
        let input = InputFile::read(&self.file)?;
        let start = Instant::now();
        check(&input.name(), &input.bytes, features)?;
        self.print_time(start);
        Ok(())
    }

    fn print_time(&self, start: Instant) {
        if self.time {
            eprintln!("validated in {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
        }
    }

    /// Everything that can fail before there is a report to print.
    fn check(&self) -> Result<(String, Report, Option<&'static Profile>)> {
        let target = self.target.as_deref().map(profile).transpose()?;
        // Against a target, every proposal is parsed, so that what the target lacks is named
        // with its first use rather than reported as a parse error of a feature left off.
        let features = match (target, self.features.is_empty()) {
            (Some(_), true) => wasmparser::WasmFeatures::all(),
            _ => parse_features(&self.features)?,
        };
        let input = InputFile::read(&self.file)?;
        let name = input.name();
        let start = Instant::now();
        let report = validate(&name, &input.bytes, features)?;
        self.print_time(start);
        Ok((name, report, target))
    }

    fn report(
        &self,
        out: Output,
        name: &str,
        report: &Report,
        target: Option<&Profile>,
    ) -> Result<ExitCode> {
        let broken = target.map(|t| violations(report, t)).unwrap_or_default();
        let json = Valid {
            file: name,
            valid: true,
            report,
            target: target.map(|t| TargetCheck {
                name: t.name,
                ok: broken.is_empty(),
            }),
            violations: target.map(|_| broken.as_slice()),
            errors: &[],
        };
        out.answer(&json, || {
            text(out.verbose > 0, name, report, target, broken.is_empty())
        })?;
        for u in &broken {
            let target = target.map_or("", |t| t.name);
            tracing::error!(
                "{name} uses {} ({}), which target `{target}` does not support",
                u.feature,
                u.first
            );
        }
        Ok(if broken.is_empty() {
            ExitCode::SUCCESS
        } else {
            Code::InvalidInput.into()
        })
    }
}

/// `--json` of a valid artifact.
#[derive(Serialize)]
struct Valid<'a> {
    file: &'a str,
    valid: bool,
    #[serde(flatten)]
    report: &'a Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<TargetCheck<'a>>,
    /// With `--target`: the features the target lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    violations: Option<&'a [&'a FeatureUse]>,
    errors: &'a [String],
}

#[derive(Serialize)]
struct TargetCheck<'a> {
    name: &'a str,
    ok: bool,
}

/// `--json` of an artifact that is not valid (or cannot be read).
#[derive(Serialize)]
struct Invalid<'a> {
    file: &'a str,
    valid: bool,
    errors: &'a [String],
}

fn text(detailed: bool, name: &str, r: &Report, target: Option<&Profile>, ok: bool) -> String {
    let mut lines = Vec::new();
    let kind = match r.kind {
        ArtifactKind::CoreModule => "core module",
        ArtifactKind::Component => "component",
        ArtifactKind::WitPackage => "WIT package",
    };
    let mut parts = Vec::new();
    if r.kind != ArtifactKind::CoreModule {
        parts.push(count(r.core_modules, "core module"));
        if r.nested_components > 0 {
            parts.push(count(r.nested_components, "nested component"));
        }
    }
    parts.push(count(r.functions, "function"));
    lines.push(format!("{name}: valid {kind} ({})", parts.join(", ")));
    if r.features.is_empty() {
        lines.push("uses: no post-MVP features".to_string());
    } else if !detailed {
        let names: Vec<_> = r.features.iter().map(|u| u.feature.name()).collect();
        lines.push(format!("uses: {}", names.join(", ")));
    } else {
        lines.push("uses:".to_string());
        let width = r.features.iter().map(|u| u.feature.name().len()).max();
        for FeatureUse {
            feature,
            count: n,
            first,
        } in &r.features
        {
            let width = width.unwrap_or(0);
            let times = count(*n as usize, "use");
            lines.push(format!(
                "  {:<width$}  {times}, first: {first}",
                feature.name()
            ));
        }
    }
    if let (Some(t), true) = (target, ok) {
        lines.push(format!("target `{}`: supported", t.name));
    }
    lines.push(String::new());
    lines.join("\n")
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
