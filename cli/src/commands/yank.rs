use super::{GlobalOpts, RegistryArgs};
use crate::keys::{signing_key, KeyStore};
use anyhow::Result;
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
            let (package, version) = super::fetch::parse_release(&self.package)?;
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
