//! `wtool validate`: validity, the features an artifact uses, and whether a target has them.

use super::GlobalOpts;
use crate::input::InputFile;
use anyhow::Result;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use wtool_compose::features::parse_features;
use wtool_compose::input::ArtifactKind;
use wtool_compose::profile::{profile, Profile, PROFILES};
use wtool_compose::validate::{validate, violations, FeatureUse, Report};

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
        let result = self.check();
        match result {
            Ok((name, report, target)) => self.report(global, &name, &report, target),
            Err(err) => {
                if global.json {
                    let out = json!({
                        "file": self.file.display().to_string(),
                        "valid": false,
                        "errors": [format!("{err:#}")],
                    });
                    println!("{}", serde_json::to_string_pretty(&out)?);
                }
                Err(err)
            }
        }
    }

    /// Everything that can fail before there is a report to print.
    fn check(&self) -> Result<(String, Report, Option<&'static Profile>)> {
        let features = parse_features(&self.features)?;
        let target = self.target.as_deref().map(profile).transpose()?;
        let input = InputFile::read(&self.file)?;
        let name = input.name();
        let start = Instant::now();
        let report = validate(&name, &input.bytes, features)?;
        if self.time {
            eprintln!("validated in {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
        }
        Ok((name, report, target))
    }

    fn report(
        &self,
        global: &GlobalOpts,
        name: &str,
        report: &Report,
        target: Option<&Profile>,
    ) -> Result<ExitCode> {
        let broken = target.map(|t| violations(report, t)).unwrap_or_default();
        if global.json {
            let mut out = json!({
                "file": name,
                "valid": true,
                "kind": report.kind,
                "core_modules": report.core_modules,
                "nested_components": report.nested_components,
                "functions": report.functions,
                "features": report.features,
                "errors": [],
            });
            if let Some(t) = target {
                out["target"] = json!({ "name": t.name, "ok": broken.is_empty() });
                out["violations"] = json!(broken);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else if !global.quiet {
            print_text(global, name, report, target, broken.is_empty());
        }
        for u in &broken {
            let target = target.map_or("", |t| t.name);
            eprintln!(
                "error: {name} uses {} ({}), which target `{target}` does not support",
                u.feature, u.first
            );
        }
        Ok(if broken.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

fn print_text(global: &GlobalOpts, name: &str, r: &Report, target: Option<&Profile>, ok: bool) {
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
    println!("{name}: valid {kind} ({})", parts.join(", "));
    if r.features.is_empty() {
        println!("uses: no post-MVP features");
    } else if global.verbose == 0 {
        let names: Vec<_> = r.features.iter().map(|u| u.feature.name()).collect();
        println!("uses: {}", names.join(", "));
    } else {
        println!("uses:");
        let width = r.features.iter().map(|u| u.feature.name().len()).max();
        for FeatureUse {
            feature,
            count: n,
            first,
        } in &r.features
        {
            let width = width.unwrap_or(0);
            let times = count(*n as usize, "use");
            println!("  {:<width$}  {times}, first: {first}", feature.name());
        }
    }
    if let (Some(t), true) = (target, ok) {
        println!("target `{}`: supported", t.name);
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
