//! `wtool yank`: mark one published version as not to be picked again.

use super::signing::PublisherArgs;
use super::GlobalOpts;
use crate::package_spec::ReleaseSpec;
use anyhow::Result;
use semver::Version;
use serde::Serialize;
use std::process::ExitCode;
use wasm_pkg_common::package::PackageRef;

/// Yank a published version: it stays downloadable for locks that name it, but no new
/// resolution picks it.
#[derive(clap::Args)]
pub struct Args {
    /// `ns:name@version`
    #[arg(value_name = "NS:NAME@VERSION")]
    package: ReleaseSpec,
    #[command(flatten)]
    publisher: PublisherArgs,
}

impl Args {
    pub fn run(self, global: &GlobalOpts) -> Result<ExitCode> {
        super::runtime()?.block_on(self.yank(global))
    }

    async fn yank(&self, global: &GlobalOpts) -> Result<ExitCode> {
        let ReleaseSpec {
            name: package,
            version,
        } = &self.package;
        let registries = self.publisher.registry.open(false)?;
        let registry = registries.for_package(package)?;
        let backend = registries.backend(&registry).await?;
        let key = self.publisher.key_for(&registries, &registry, &*backend)?;
        backend.yank(package, version, key.as_ref()).await?;
        let report = Yanked {
            package,
            version,
            registry: &registry.name,
            yanked: true,
        };
        global.output().summary(&report, || {
            format!("yanked {package}@{version} from `{}`\n", registry.name)
        })?;
        Ok(ExitCode::SUCCESS)
    }
}

/// `--json` of `wtool yank`.
#[derive(Serialize)]
struct Yanked<'a> {
    package: &'a PackageRef,
    version: &'a Version,
    registry: &'a str,
    yanked: bool,
}
