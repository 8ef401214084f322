use super::{GlobalOpts, RegistryArgs};
use crate::keys::{signing_key, KeyStore};
use anyhow::{Context, Result};
use semver::Version;
use std::process::ExitCode;

/// Yank a published version: it stays downloadable for locks that name it, but no new
/// resolution picks it.
#[derive(clap::Args)]
pub struct Args {
    /// `ns:name@version`
    #[arg(value_name = "NS:NAME@VERSION")]
    package: String,
    /// The signing key to use from the key store.
    #[arg(long)]
    key: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl Args {
    pub fn run(self, global: &GlobalOpts) -> Result<ExitCode> {
        super::runtime()?.block_on(async {
            let (name, version) = self
                .package
                .split_once('@')
                .with_context(|| format!("`{}` needs a version: `ns:name@1.0.0`", self.package))?;
            let package = name
                .parse()
                .map_err(|e| anyhow::anyhow!("`{}`: {e}", self.package))?;
            let version: Version = version
                .parse()
                .with_context(|| format!("`{version}` is not a version"))?;
            let registries = self.registry.open(false)?;
            let registry = registries.for_package(&package)?;
            let backend = registries.backend(&registry).await?;
            let store = KeyStore::new(&registries.settings().config_dir);
            let key = if backend.signs() {
                Some(signing_key(&store, self.key.as_deref())?)
            } else {
                None
            };
            backend.yank(&package, &version, key.as_ref()).await?;
            if global.json {
                println!(
                    "{}",
                    serde_json::json!({"package": package.to_string(), "version": version.to_string(), "registry": registry.name, "yanked": true})
                );
            } else if !global.quiet {
                eprintln!("yanked {package}@{version} from `{}`", registry.name);
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}
