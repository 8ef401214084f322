//! Signing keys in a plain file store (`<config dir>/keys/<name>.key`, mode 0600, no trailing
//! newline) rather than the desktop keyring, which CI machines do not have. `WTOOL_SIGNING_KEY`
//! supplies a key directly, for CI secrets.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use warg_crypto::signing::{PrivateKey, PublicKey};

pub const ENV_KEY: &str = "WTOOL_SIGNING_KEY";
pub const DEFAULT_NAME: &str = "default";

pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    pub fn new(config_dir: &Path) -> Self {
        Self {
            dir: config_dir.join("keys"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            bail!("`{name}` is not a valid key name; use letters, digits, `-` and `_`");
        }
        Ok(self.dir.join(format!("{name}.key")))
    }

    pub fn generate(&self, name: &str) -> Result<PrivateKey> {
        let (_, key) = warg_crypto::signing::generate_p256_pair();
        self.store(name, &key)?;
        Ok(key)
    }

    pub fn import(&self, name: &str, text: &str) -> Result<PrivateKey> {
        let key = parse(text.trim())?;
        self.store(name, &key)?;
        Ok(key)
    }

    fn store(&self, name: &str, key: &PrivateKey) -> Result<()> {
        let path = self.path(name)?;
        if path.exists() {
            bail!(
                "a key named `{name}` already exists at `{}`; choose another name with --name",
                path.display()
            );
        }
        create_private_dir(&self.dir)?;
        write_private(&path, key.encode().as_bytes())
            .with_context(|| format!("cannot write the key file `{}`", path.display()))
    }

    pub fn load(&self, name: &str) -> Result<PrivateKey> {
        let path = self.path(name)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "no signing key named `{name}` in `{}`; create one with `wtool key new --name \
                 {name}` or set {ENV_KEY}",
                self.dir.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
        };
        parse(text.trim()).with_context(|| format!("in `{}`", path.display()))
    }

    pub fn list(&self) -> Result<Vec<(String, PublicKey)>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read `{}`", self.dir.display()))
            }
        };
        let mut keys = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".key"))
            else {
                continue;
            };
            keys.push((name.to_string(), self.load(name)?.public_key()));
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(keys)
    }
}

/// The key to sign with: `WTOOL_SIGNING_KEY`, else the named key, else `default`.
pub fn signing_key(store: &KeyStore, name: Option<&str>) -> Result<PrivateKey> {
    if let Ok(text) = std::env::var(ENV_KEY) {
        return parse(text.trim()).with_context(|| format!("in the {ENV_KEY} variable"));
    }
    store.load(name.unwrap_or(DEFAULT_NAME))
}

fn parse(text: &str) -> Result<PrivateKey> {
    PrivateKey::decode(text.to_string()).map_err(|e| {
        anyhow::anyhow!(
            "not a signing key ({e}); expected the `ecdsa-p256:...` form `wtool key new` writes"
        )
    })
}

fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
