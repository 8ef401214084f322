//! `wtool compose --target-world ns:pkg/world[@version]`: the composition must satisfy a world
//! taken from a local WIT directory or, failing that, a registry.

use super::from_registry::RegistryInputs;
use crate::commands::RegistryArgs;
use crate::exit::{fail, Code, WithCode};
use crate::package_spec::PackageSpec;
use crate::witpkg::{self, Decoded};
use anyhow::{anyhow, Context, Result};
use semver::VersionReq;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use wasm_pkg_common::package::PackageRef;
use wit_parser::Resolve;

/// A parsed `--target-world` argument.
#[derive(Clone, Debug)]
pub struct TargetWorld {
    package: PackageRef,
    world: String,
    req: VersionReq,
    text: String,
}

impl fmt::Display for TargetWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for TargetWorld {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse(s)
    }
}

fn parse(s: &str) -> Result<TargetWorld, String> {
    let usage = || format!("`{s}` is not a world reference; write `ns:pkg/world[@version]`");
    let (path, version) = match s.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (s, None),
    };
    let (package, world) = path.split_once('/').ok_or_else(usage)?;
    if world.is_empty() || world.contains('/') {
        return Err(usage());
    }
    // The package part reads as `wtool fetch`'s `ns:name[@version]`.
    let spec = match version {
        Some(v) => format!("{package}@{v}"),
        None => package.to_string(),
    };
    let spec: PackageSpec = spec.parse().map_err(|e| format!("{}: {e:#}", usage()))?;
    Ok(TargetWorld {
        package: spec.name,
        world: world.to_string(),
        req: spec.req,
        text: s.to_string(),
    })
}

/// Fails, naming every missing export, extra import and type mismatch, unless `component`
/// satisfies `target`. The world's package comes from `wit_dir` (default `./wit` when it
/// exists, its `deps/` included), else from the registries, whose answer is locked like a
/// compose input.
pub fn check(
    component: Vec<u8>,
    target: &TargetWorld,
    wit_dir: Option<&Path>,
    registry: &RegistryArgs,
) -> Result<()> {
    let (label, package_bytes) = load_package(target, wit_dir, registry)?;
    let problems = wtool_compose::target::check(component, &label, &package_bytes, &target.world)?;
    if problems.is_empty() {
        tracing::info!("the composition satisfies world `{target}` ({label})");
        return Ok(());
    }
    let list: String = problems.iter().map(|p| format!("\n  - {p}")).collect();
    let n = problems.len();
    fail!(
        Code::Composition,
        "the composition does not satisfy world `{target}` ({label}); it has {n} problem{}:\
         {list}\nPlug components that export what is missing and fill the extra imports, or \
         target a world that offers them",
        if n == 1 { "" } else { "s" }
    )
}

fn load_package(
    target: &TargetWorld,
    wit_dir: Option<&Path>,
    registry: &RegistryArgs,
) -> Result<(String, Vec<u8>)> {
    let dir = wit_dir
        .map(Path::to_path_buf)
        .or_else(|| Some(PathBuf::from("wit")).filter(|d| d.is_dir()));
    if let Some(dir) = dir {
        if let Some(found) = from_wit_dir(target, &dir)? {
            return Ok(found);
        }
        tracing::info!(
            "`{}` is not in `{}`, so it is looked up in registries",
            target.package,
            dir.display()
        );
    }
    let mut registries = RegistryInputs::open(registry)?;
    let resolved = registries
        .resolve(&target.package, &target.req)
        .with_context(|| format!("cannot find the package of target world `{target}`"))?;
    let label = resolved.entry.label();
    if let Decoded::Component = witpkg::decode(&resolved.bytes, &label)? {
        fail!(
            Code::InvalidInput,
            "`{target}` names {label}, a component, not a WIT package with worlds"
        );
    }
    registries.finish()?;
    Ok((label, resolved.bytes))
}

/// The highest version of the package in `dir` that the requirement accepts, encoded.
fn from_wit_dir(target: &TargetWorld, dir: &Path) -> Result<Option<(String, Vec<u8>)>> {
    let mut resolve = Resolve::default();
    resolve
        .push_path(dir)
        .with_context(|| format!("cannot read the WIT in `{}`", dir.display()))
        .code(Code::InvalidInput)?;
    let best = resolve
        .packages
        .iter()
        .filter(|(_, p)| {
            p.name.namespace == target.package.namespace().to_string()
                && p.name.name == target.package.name().to_string()
                && match &p.name.version {
                    Some(v) => target.req.matches(v),
                    None => target.req == VersionReq::STAR,
                }
        })
        .max_by(|(_, a), (_, b)| a.name.version.cmp(&b.name.version));
    let Some((id, package)) = best else {
        return Ok(None);
    };
    let label = format!("{} from `{}`", package.name, dir.display());
    let bytes =
        wit_component::encode(&resolve, id).map_err(|e| anyhow!("cannot encode {label}: {e:#}"))?;
    Ok(Some((label, bytes)))
}
