//! Credentials for an OCI registry, from the first source that has some, in wkg's order:
//! the environment (wkg's `WKG_REGISTRY_<HOST>_AUTH_BEARER` / `_AUTH_BASIC`, then wtool's
//! `WTOOL_REGISTRY_<NAME>_TOKEN`), wkg's `[registry."<name>".oci] auth`, wtool's own config,
//! Docker's `config.json` (with its credential helpers; an identity token there is exchanged
//! at the registry's token service, as Docker does), else anonymous. Secrets stay in this
//! value: its `Debug` and every message name only the source.

use crate::config::{sanitize, Settings};
use base64::Engine;
use oci_client::secrets::RegistryAuth;
use std::fmt;

/// A secret as it was found. An identity token is no credential a registry takes: it is
/// exchanged at the registry's token service for one (OAuth2 `refresh_token`).
#[derive(Clone)]
pub enum Secret {
    Anonymous,
    Basic { user: String, password: String },
    Bearer(String),
    Identity(String),
}

pub struct Credentials {
    pub secret: Secret,
    /// Where they came from, for messages.
    pub source: String,
    /// Every source that was looked at, in order.
    pub tried: Vec<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({})", self.source)
    }
}

impl Credentials {
    pub fn is_anonymous(&self) -> bool {
        matches!(self.secret, Secret::Anonymous)
    }

    /// What oci-client is handed for a push; an identity token is exchanged first, so it has
    /// no form here.
    pub fn registry_auth(&self) -> Option<RegistryAuth> {
        Some(match &self.secret {
            Secret::Anonymous => RegistryAuth::Anonymous,
            Secret::Basic { user, password } => RegistryAuth::Basic(user.clone(), password.clone()),
            Secret::Bearer(token) => RegistryAuth::Bearer(token.clone()),
            Secret::Identity(_) => return None,
        })
    }
}

/// `WKG_REGISTRY_<HOST>_AUTH_<SCHEME>`: the OCI host with every character but letters and
/// digits turned into `_`, upper-cased, as wkg spells it.
pub fn wkg_env_var(host: &str, scheme: &str) -> String {
    format!(
        "WKG_REGISTRY_{}_AUTH_{scheme}",
        sanitize(host, &[]).to_ascii_uppercase()
    )
}

/// `[registry."<name>".oci] auth` in wkg's config: `{ username, password }` or the base64 of
/// `user:pass`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub enum ConfigAuth {
    Basic { username: String, password: String },
    Encoded(String),
}

impl ConfigAuth {
    fn basic(&self) -> Option<(String, String)> {
        match self {
            ConfigAuth::Basic { username, password } => Some((username.clone(), password.clone())),
            ConfigAuth::Encoded(text) => decode_basic(text),
        }
    }
}

fn decode_basic(text: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| text.to_string());
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

pub fn find(
    settings: &Settings,
    name: &str,
    host: &str,
    config_auth: Option<&ConfigAuth>,
) -> Credentials {
    let mut tried = Vec::new();
    let found = |secret, source: String, mut tried: Vec<String>| {
        tried.push(source.clone());
        Credentials {
            secret,
            source,
            tried,
        }
    };

    let bearer = wkg_env_var(host, "BEARER");
    if let Some(token) = env(&bearer) {
        return found(Secret::Bearer(token), format!("${bearer}"), tried);
    }
    tried.push(format!("${bearer}"));
    let basic = wkg_env_var(host, "BASIC");
    if let Some((user, pass)) = env(&basic).as_deref().and_then(decode_basic) {
        return found(basic_secret(user, pass), format!("${basic}"), tried);
    }
    tried.push(format!("${basic}"));
    let wtool = crate::config::token_env_var(name);
    if let Some(token) = env(&wtool) {
        return found(Secret::Bearer(token), format!("${wtool}"), tried);
    }
    tried.push(format!("${wtool}"));

    if let Some((user, pass)) = config_auth.and_then(ConfigAuth::basic) {
        let source = format!("wkg config [registry.\"{name}\".oci] auth");
        return found(basic_secret(user, pass), source, tried);
    }
    tried.push(format!("wkg config [registry.\"{name}\".oci] auth"));
    if let Some(token) = settings
        .wtool
        .registries
        .get(name)
        .and_then(|r| r.token.clone())
    {
        let source = format!("wtool config [registries.\"{name}\"] token");
        return found(Secret::Bearer(token), source, tried);
    }

    // Docker looks a registry up by host, and some tools store it as `https://host`.
    for key in [host.to_string(), format!("https://{host}")] {
        match docker_credential::get_credential(&key) {
            Ok(docker_credential::DockerCredential::UsernamePassword(user, pass)) => {
                let source = format!("Docker credentials for `{key}`");
                return found(basic_secret(user, pass), source, tried);
            }
            Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
                let source = format!("Docker identity token for `{key}`");
                return found(Secret::Identity(token), source, tried);
            }
            Err(e) => tracing::debug!("no Docker credentials for `{key}`: {e}"),
        }
    }
    tried.push("Docker's config.json".into());
    Credentials {
        secret: Secret::Anonymous,
        source: "anonymous".into(),
        tried,
    }
}

fn basic_secret(user: String, password: String) -> Secret {
    Secret::Basic { user, password }
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wkg_spells_variables_by_host() {
        assert_eq!(
            wkg_env_var("ghcr.io", "BEARER"),
            "WKG_REGISTRY_GHCR_IO_AUTH_BEARER"
        );
        assert_eq!(
            wkg_env_var("127.0.0.1:5000", "BASIC"),
            "WKG_REGISTRY_127_0_0_1_5000_AUTH_BASIC"
        );
    }

    #[test]
    fn basic_auth_is_plain_or_base64() {
        assert_eq!(
            decode_basic("dTpw"),
            Some(("u".to_string(), "p".to_string()))
        );
        assert_eq!(
            decode_basic("u:p"),
            Some(("u".to_string(), "p".to_string()))
        );
        assert_eq!(decode_basic("nocolon"), None);
    }
}
