//! The options of the commands that write to a registry (`publish`, `yank`) and the one way
//! they pick the key that signs.

use super::RegistryArgs;
use crate::keys::{signing_key, KeyStore};
use crate::registry::{Backend, Registries, RegistryRef};
use anyhow::Result;
use warg_crypto::signing::PrivateKey;

#[derive(clap::Args)]
pub struct PublisherArgs {
    /// The signing key to use from the key store (default: the registry's configured key, then
    /// `default`; `WTOOL_SIGNING_KEY` wins over both).
    #[arg(long)]
    pub key: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl PublisherArgs {
    /// The key that signs for `registry`, or `None` where its protocol signs nothing.
    pub fn key_for(
        &self,
        registries: &Registries,
        registry: &RegistryRef,
        backend: &dyn Backend,
    ) -> Result<Option<PrivateKey>> {
        if !backend.signs() {
            return Ok(None);
        }
        let settings = registries.settings();
        let configured = settings
            .wtool
            .registries
            .get(&registry.name)
            .and_then(|r| r.key.as_deref());
        let store = KeyStore::new(&settings.config_dir);
        signing_key(&store, self.key.as_deref().or(configured)).map(Some)
    }
}
