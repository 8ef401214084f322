use super::GlobalOpts;
use crate::config::Settings;
use crate::keys::{KeyStore, DEFAULT_NAME, ENV_KEY};
use anyhow::{Context, Result};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

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
        let describe = |name: &str, key: &warg_crypto::signing::PublicKey| {
            if global.json {
                println!(
                    "{}",
                    serde_json::json!({"name": name, "public_key": key.to_string(), "fingerprint": key.fingerprint().to_string()})
                );
            } else {
                println!("{name}\t{key}\t{}", key.fingerprint());
            }
        };
        match self.command {
            KeyCommand::New { name } => {
                let key = store.generate(&name)?;
                describe(&name, &key.public_key());
                if !global.quiet && !global.json {
                    eprintln!(
                        "created `{}` (keep it secret; in CI pass it as {ENV_KEY})",
                        store.dir().join(format!("{name}.key")).display()
                    );
                }
            }
            KeyCommand::Show { name } => describe(&name, &store.load(&name)?.public_key()),
            KeyCommand::List => {
                for (name, key) in store.list()? {
                    describe(&name, &key);
                }
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
                describe(&name, &key.public_key());
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
