//! `/.well-known/wasm-pkg/registry.json`. Unlike wkg, a failed or unreadable document is an
//! error, not a silent fallback to another protocol.

use super::Location;
use crate::exit::{fail, Code, WithCode};
use anyhow::{bail, Context, Result};
use std::time::Duration;

pub async fn discover(name: &str, base: &str) -> Result<Location> {
    let url = format!("{base}/.well-known/wasm-pkg/registry.json");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| {
            format!(
                "cannot reach registry `{name}` at {base}; check the URL and that the registry is \
             up, or use --offline with a warm cache"
            )
        })
        .code(Code::Unreachable)?;
    let status = response.status();
    if !status.is_success() {
        // A server that is up but failing is as good as unreachable for the caller.
        let code = if status.is_server_error() {
            Code::Unreachable
        } else {
            Code::Failure
        };
        fail!(
            code,
            "registry `{name}` answered {status} for {url}; wtool needs that document to know \
             which protocol the registry speaks (or a backend set in wkg's config)"
        );
    }
    let body = response
        .bytes()
        .await
        .with_context(|| format!("registry `{name}`: reading {url}"))?;
    let meta: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("registry `{name}` returned garbage for {url}: it is not JSON"))?;
    let location = from_metadata(name, &meta)?;
    // A relative or missing URL means the registry is at the discovery host itself.
    Ok(match location {
        Location::Warg(url) if url.is_empty() => Location::Warg(base.to_string()),
        other => other,
    })
}

/// Reads a registry metadata document (fetched, or inline in wkg's config).
pub fn from_metadata(name: &str, meta: &serde_json::Value) -> Result<Location> {
    let warg_url = meta
        .get("wargUrl")
        .and_then(|v| v.as_str())
        .or_else(|| meta.pointer("/warg/url").and_then(|v| v.as_str()));
    let preferred = meta.get("preferredProtocol").and_then(|v| v.as_str());
    match (warg_url, preferred) {
        (Some(url), None | Some("warg")) => Ok(Location::Warg(url.trim_end_matches('/').into())),
        (None, Some("warg")) => Ok(Location::Warg(String::new())),
        (_, Some("oci")) | (None, None)
            if meta.get("oci").is_some() || meta.get("ociRegistry").is_some() =>
        {
            Ok(Location::Unsupported(format!(
                "registry `{name}` speaks OCI, which this wtool does not speak yet; use a warg \
                 or local-directory registry"
            )))
        }
        (_, Some(other)) => Ok(Location::Unsupported(format!(
            "registry `{name}` prefers the `{other}` protocol, which this wtool does not speak"
        ))),
        (None, None) => {
            bail!("registry `{name}`'s metadata names no protocol wtool knows (expected `wargUrl`)")
        }
    }
}
