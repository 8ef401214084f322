//! `wtool publish`: build or read the artifact, name it, check it against its series, sign
//! and upload it.

use super::signing::PublisherArgs;
use super::GlobalOpts;
use crate::digest::Digest;
use crate::exit::{fail, Code, WithCode};
use crate::input::InputFile;
use crate::package_spec::ReleaseSpec;
use crate::progress::Transfer;
use crate::registry::{Published, Registries};
use crate::surface::{self, Surface};
use crate::witpkg::{self, check_compatible, same_series, Decoded};
use anyhow::{bail, Result};
use semver::Version;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use wasm_pkg_common::package::PackageRef;

/// Sign and publish a component or WIT package to a registry.
///
/// The package name and version come from the WIT package inside the file unless `--package`
/// says otherwise; a WIT directory is built into a binary WIT package first. A new minor or
/// patch release must stay compatible with the release before it in its series.
#[derive(clap::Args)]
pub struct Args {
    /// A `.wasm` (or `.wat`) component or WIT package, a WIT directory or a `.wit` file
    /// (default: `wit`).
    path: Option<PathBuf>,
    /// The identity to publish under, `ns:name@version`.
    #[arg(long, value_name = "NS:NAME@VERSION")]
    package: Option<ReleaseSpec>,
    /// Check everything, but publish nothing.
    #[arg(long)]
    dry_run: bool,
    /// Publish even if the release breaks the previous one in its semver series.
    #[arg(long)]
    allow_breaking: bool,
    /// Replace a version that is already published, where the registry allows it (an OCI tag
    /// can be moved; a warg release cannot). Locks that recorded the old bytes then refuse it.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    publisher: PublisherArgs,
}

impl Args {
    pub fn run(self, global: &GlobalOpts) -> Result<ExitCode> {
        super::runtime()?.block_on(self.publish(global))
    }

    async fn publish(&self, global: &GlobalOpts) -> Result<ExitCode> {
        let path = self.path.clone().unwrap_or_else(|| PathBuf::from("wit"));
        let is_wit = path.is_dir() || path.extension().is_some_and(|e| e == "wit");
        let bytes = if is_wit {
            witpkg::build_wit(&path).code(Code::InvalidInput)?
        } else {
            InputFile::read(&path)?.bytes
        };
        let shown = path.display().to_string();
        let mut decoded = witpkg::decode(&bytes, &format!("`{shown}`")).code(Code::InvalidInput)?;
        let (package, version) = self.identity(&decoded, &shown)?;

        let registries = self.publisher.registry.open(false)?;
        let registry = registries.for_package(&package)?;
        let backend = registries.backend(&registry).await?;

        backend.check_version(&package, &version)?;
        let existing = backend.releases(&package).await?.unwrap_or_default();
        if existing.iter().any(|r| r.version == version) {
            if !backend.overwrites() {
                bail!(
                    "{package}@{version} already exists in registry `{}`; versions are \
                     immutable, so bump the version",
                    registry.name
                );
            }
            if !self.force {
                bail!(
                    "{package}@{version} already exists in registry `{}`; refusing to move the \
                     tag, because every lock that recorded it would then refuse the new bytes. \
                     Bump the version, or pass --force to replace it anyway",
                    registry.name
                );
            }
            tracing::warn!(
                "replacing {package}@{version} in registry `{}` (--force)",
                registry.name
            );
        }
        if !self.allow_breaking {
            let new = match &mut decoded {
                Decoded::Package(new) => {
                    new.assign_version(&version);
                    Release::Package(new)
                }
                Decoded::Component => Release::Component(
                    surface::of(&bytes, &format!("`{shown}`")).code(Code::InvalidInput)?,
                ),
            };
            semver_gate(&registries, &package, &version, &new, &existing).await?;
        }

        if self.dry_run {
            let release = Published {
                package,
                version,
                digest: Digest::of(&bytes),
                registry: registry.name,
                record: None,
                manifest: None,
            };
            report(global, &release, Some(bytes.len()))?;
            return Ok(ExitCode::SUCCESS);
        }

        let key = self.publisher.key_for(&registries, &registry, &*backend)?;
        let progress = Transfer::new(
            format!("uploading {package}@{version}"),
            Some(bytes.len() as u64),
        );
        let published = backend
            .publish(&package, &version, &bytes, key.as_ref(), &progress)
            .await?;
        progress.finish();
        report(global, &published, None)?;
        Ok(ExitCode::SUCCESS)
    }

    fn identity(&self, decoded: &Decoded, shown: &str) -> Result<(PackageRef, Version)> {
        if let Some(spec) = &self.package {
            return Ok((spec.name.clone(), spec.version.clone()));
        }
        match decoded {
            Decoded::Package(p) => {
                let name = p.name();
                let Some(version) = name.version.clone() else {
                    fail!(
                        Code::Usage,
                        "`{shown}` declares `package {name};` without a version; add one \
                         (`package {name}@0.1.0;`) or pass --package {name}@VERSION"
                    );
                };
                let (package, _) = witpkg::requirement(name)?;
                Ok((package, version))
            }
            Decoded::Component => fail!(
                Code::Usage,
                "`{shown}` is a component, which does not name its own package; pass \
                 --package ns:name@version"
            ),
        }
    }
}

/// `--json` of `wtool publish`.
#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    release: &'a Published,
    dry_run: bool,
}

/// What was published, or (with the size of a dry run) what would have been.
fn report(global: &GlobalOpts, release: &Published, dry_run: Option<usize>) -> Result<()> {
    let json = Report {
        release,
        dry_run: dry_run.is_some(),
    };
    global.output().summary(&json, || {
        let Published {
            package,
            version,
            digest,
            registry,
            ..
        } = release;
        match dry_run {
            Some(size) => format!(
                "would publish {package}@{version} ({digest}, {size} bytes) to `{registry}` (dry run)\n"
            ),
            None => format!("published {package}@{version} ({digest}) to `{registry}`\n"),
        }
    })
}

/// What the semver check compares of a release.
enum Release<'a> {
    Package(&'a witpkg::WitPackage),
    Component(Surface),
}

/// The new release must not break its neighbours in the same series: a WIT package keeps every
/// item compatible, and a component keeps its exports and adds no imports.
async fn semver_gate(
    registries: &Registries,
    package: &PackageRef,
    version: &Version,
    new: &Release<'_>,
    existing: &[crate::cache::Release],
) -> Result<()> {
    let in_series = existing
        .iter()
        .filter(|r| !r.yanked && r.version != *version && same_series(&r.version, version));
    let below = in_series
        .clone()
        .filter(|r| r.version < *version)
        .max_by(|a, b| a.version.cmp(&b.version));
    let above = in_series
        .filter(|r| r.version > *version)
        .min_by(|a, b| a.version.cmp(&b.version));
    let registry = registries.for_package(package)?;
    let backend = registries.backend(&registry).await?;
    for (neighbour, newer_is_us) in [(below, true), (above, false)] {
        let Some(neighbour) = neighbour else { continue };
        let bytes = backend.download(package, neighbour).await?;
        let what = format!("{package}@{}", neighbour.version);
        let result = match (new, witpkg::decode(&bytes, &what)?) {
            (Release::Package(new), Decoded::Package(mut old)) => {
                old.assign_version(&neighbour.version);
                if newer_is_us {
                    check_compatible(&old, new)
                } else {
                    check_compatible(new, &old)
                }
            }
            (Release::Component(new), Decoded::Component) => {
                let old = surface::of(&bytes, &what)?;
                if newer_is_us {
                    surface::check_compatible(&old, new)
                } else {
                    surface::check_compatible(new, &old)
                }
            }
            // One kind replaced by the other: there is nothing to compare item by item.
            _ => continue,
        };
        result.map_err(|e| {
            crate::exit::coded(
                Code::Verification,
                anyhow::anyhow!(
                    "semver check failed: {e:#}\n{package}@{version} and {what} are in the same \
                 series, so they must be compatible; publish a new major (or 0.x minor) version, \
                 or pass --allow-breaking"
                ),
            )
        })?;
    }
    Ok(())
}
