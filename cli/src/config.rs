//! Where settings come from. Registry mappings are read from wkg's own file
//! (`$XDG_CONFIG_HOME/wasm-pkg/config.toml`, or `WKG_CONFIG_FILE`) so existing setups work
//! unchanged; wtool's own settings (tokens, signing key names) live in a separate file,
//! `<config dir>/wtool/config.toml` (or `WTOOL_CONFIG`), because wkg's file rejects unknown keys.
//! Environment variables override both.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// wtool's own settings file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WtoolConfig {
    /// Registry used when neither wkg's mappings nor `--registry` name one.
    pub default_registry: Option<String>,
    #[serde(default)]
    pub registries: BTreeMap<String, RegistrySettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Bearer token for publishing.
    pub token: Option<String>,
    /// Name of the signing key in the key store to publish with.
    pub key: Option<String>,
    /// A PEM file of extra CA certificates to trust for this registry (beside the system's).
    pub ca_file: Option<PathBuf>,
}

pub struct Settings {
    pub wkg: wasm_pkg_common::config::Config,
    pub wtool: WtoolConfig,
    pub config_dir: PathBuf,
    pub cache_dir: PathBuf,
}

/// `WTOOL_CACHE_DIR`, else `wtool` in the platform's cache directory.
pub fn cache_dir() -> Result<PathBuf> {
    env_path("WTOOL_CACHE_DIR")
        .or_else(|| dirs::cache_dir().map(|d| d.join("wtool")))
        .context("cannot find a cache directory; set WTOOL_CACHE_DIR")
}

impl Settings {
    pub fn load() -> Result<Self> {
        let config_dir = env_path("WTOOL_CONFIG_DIR")
            .or_else(|| dirs::config_dir().map(|d| d.join("wtool")))
            .context("cannot find a config directory; set WTOOL_CONFIG_DIR")?;
        let cache_dir = cache_dir()?;

        let mut wkg = wasm_pkg_common::config::Config::default();
        let wkg_file = env_path("WKG_CONFIG_FILE")
            .or_else(wasm_pkg_common::config::Config::global_config_path);
        if let Some(path) = wkg_file.filter(|p| p.exists()) {
            let text = read(&path)?;
            let file = wasm_pkg_common::config::Config::from_toml(&text).map_err(|e| {
                let why = crate::wkg_config::explain(&text).unwrap_or_else(|| e.to_string());
                crate::exit::coded(
                    crate::exit::Code::Usage,
                    anyhow::anyhow!("`{}` is not a valid wkg config file: {why}", path.display()),
                )
            })?;
            wkg.merge(file);
        }

        let wtool_file = env_path("WTOOL_CONFIG").unwrap_or_else(|| config_dir.join("config.toml"));
        let wtool = if wtool_file.exists() {
            toml::from_str(&read(&wtool_file)?).with_context(|| {
                format!(
                    "`{}` is not a valid wtool config file",
                    wtool_file.display()
                )
            })?
        } else {
            WtoolConfig::default()
        };
        Ok(Self {
            wkg,
            wtool,
            config_dir,
            cache_dir,
        })
    }

    /// The extra CA certificates configured for a registry, read.
    pub fn ca_file(&self, registry: &str) -> Result<Option<Vec<u8>>> {
        let Some(path) = self
            .wtool
            .registries
            .get(registry)
            .and_then(|r| r.ca_file.as_ref())
        else {
            return Ok(None);
        };
        let pem = std::fs::read(path).with_context(|| {
            format!(
                "cannot read `{}`, the CA file configured for registry `{registry}`",
                path.display()
            )
        })?;
        Ok(Some(pem))
    }

    /// A registry's bearer token: `WTOOL_REGISTRY_<NAME>_TOKEN`, then wtool's config, then a
    /// `[registry."<name>".warg] auth_token` in wkg's config.
    pub fn token(&self, registry: &str) -> Option<String> {
        if let Ok(token) = std::env::var(token_env_var(registry)) {
            return Some(token);
        }
        if let Some(token) = self
            .wtool
            .registries
            .get(registry)
            .and_then(|r| r.token.clone())
        {
            return Some(token);
        }
        let reg = registry.parse().ok()?;
        #[derive(Deserialize)]
        struct WargTable {
            auth_token: Option<String>,
        }
        self.wkg
            .registry_config(&reg)?
            .backend_config::<WargTable>("warg")
            .ok()??
            .auth_token
    }
}

/// `WTOOL_REGISTRY_<NAME>_TOKEN`, with every character of the registry name that is not a
/// letter or digit turned into `_`, upper-cased (the scheme wkg uses for its own variables).
pub fn token_env_var(registry: &str) -> String {
    let name = sanitize(registry, &[]).to_ascii_uppercase();
    format!("WTOOL_REGISTRY_{name}_TOKEN")
}

/// A registry name reduced to ASCII letters, digits and the characters in `keep`; every other
/// character becomes `_`. The cache directory and the token variable are both named this way.
pub fn sanitize(name: &str, keep: &[char]) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || keep.contains(&c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_variable_names() {
        assert_eq!(
            super::token_env_var("127.0.0.1:8080"),
            "WTOOL_REGISTRY_127_0_0_1_8080_TOKEN"
        );
        assert_eq!(
            super::token_env_var("registry.acme.dev"),
            "WTOOL_REGISTRY_REGISTRY_ACME_DEV_TOKEN"
        );
    }
}
