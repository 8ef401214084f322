//! `wtool key`: the signing keys that publish and yank use.

use super::GlobalOpts;
use crate::config::Settings;
use crate::keys::{KeyStore, DEFAULT_NAME, ENV_KEY};
use anyhow::{Context, Result};
use serde::Serialize;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use warg_crypto::signing::PublicKey;

/// Manage signing keys (a file store in the config directory, never the desktop keyring).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(clap::Subcommand)]
enum KeyCommand {
    /// Generate a new ECDSA P-256 signing key.
    New {
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
    },
    /// Print a key's public key and fingerprint (the private key is never printed).
    Show {
        #[arg(default_value = DEFAULT_NAME)]
        name: String,
    },
    /// List the keys in the store.
    List,
    /// Import a private key (`ecdsa-p256:...`) from a file, or `-` for stdin.
    Import {
        file: PathBuf,
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
    },
}

impl Args {
    pub fn run(self, global: &GlobalOpts) -> Result<ExitCode> {
        let settings = Settings::load()?;
        let store = KeyStore::new(&settings.config_dir);
        let out = global.output();
        match self.command {
            KeyCommand::New { name } => {
                let key = store.generate(&name)?;
                let info = KeyInfo::new(&name, &key.public_key());
                out.product(&info, || info.line())?;
                out.status(|| {
                    format!(
                        "created `{}` (keep it secret; in CI pass it as {ENV_KEY})",
                        store.dir().join(format!("{name}.key")).display()
                    )
                });
            }
            KeyCommand::Show { name } => {
                let info = KeyInfo::new(&name, &store.load(&name)?.public_key());
                out.product(&info, || info.line())?;
            }
            KeyCommand::List => {
                let keys: Vec<KeyInfo> = store
                    .list()?
                    .iter()
                    .map(|(name, key)| KeyInfo::new(name, key))
                    .collect();
                out.product(&keys, || keys.iter().map(KeyInfo::line).collect())?;
            }
            KeyCommand::Import { file, name } => {
                let mut text = String::new();
                if file.as_os_str() == "-" {
                    std::io::stdin().read_to_string(&mut text)?;
                } else {
                    text = std::fs::read_to_string(&file)
                        .with_context(|| format!("cannot read `{}`", file.display()))?;
                }
                let key = store.import(&name, &text)?;
                let info = KeyInfo::new(&name, &key.public_key());
                out.product(&info, || info.line())?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// A key as `--json` shows it (`key list --json` prints an array of these).
#[derive(Serialize)]
struct KeyInfo {
    name: String,
    public_key: String,
    fingerprint: String,
}

impl KeyInfo {
    fn new(name: &str, key: &PublicKey) -> Self {
        Self {
            name: name.to_string(),
            public_key: key.to_string(),
            fingerprint: key.fingerprint().to_string(),
        }
    }

    /// `name<TAB>public key<TAB>fingerprint`, for `cut -f`.
    fn line(&self) -> String {
        format!("{}\t{}\t{}\n", self.name, self.public_key, self.fingerprint)
    }
}
