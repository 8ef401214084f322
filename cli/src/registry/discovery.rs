//! Which protocol a registry speaks, and where: its `/.well-known/wasm-pkg/registry.json`
//! (the current form, `oci: { registry, namespacePrefix }`, and the legacy `ociRegistry` /
//! `ociNamespacePrefix`, `wargUrl`), else the APIs themselves (`GET /v2/` for OCI,
//! `GET /v1/fetch/checkpoint` for warg). When a document offers both, warg wins (its log is
//! verified by the client) unless the document, the config or the URL prefers OCI. Unlike wkg,
//! an unreadable document is an error, not a silent fallback.

use super::oci::OciLocation;
use super::{is_loopback, Location, Protocol};
use crate::exit::{fail, Code, WithCode};
use anyhow::{bail, Context, Result};
use std::time::Duration;

/// A whole discovery exchange; a registry that takes longer is as good as down.
const TIMEOUT: Duration = Duration::from_secs(30);

pub async fn discover(name: &str, base: &str, prefer: Option<Protocol>) -> Result<Location> {
    let url = format!("{base}/.well-known/wasm-pkg/registry.json");
    let client =
        super::http::shared().map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {e}"))?;
    let unreachable = || {
        format!(
            "cannot reach registry `{name}` at {base}; check the URL and that the registry is up, \
             or use --offline with a warm cache"
        )
    };
    let response = client
        .get(&url)
        .timeout(TIMEOUT)
        .send()
        .await
        .with_context(unreachable)
        .code(Code::Unreachable)?;
    let status = response.status();
    if matches!(status.as_u16(), 401 | 403 | 404) {
        // Neither plain OCI registries nor the reference warg server serve the document (and
        // a registry behind auth may guard every path).
        return probe(&client, name, base, prefer).await;
    }
    if !status.is_success() {
        // A server that is up but failing is as good as unreachable for the caller.
        let code = if status.is_server_error() {
            Code::Unreachable
        } else {
            Code::Failure
        };
        fail!(
            code,
            "registry `{name}` answered {status} for {url}; wtool needs that document (or an \
             answer from its OCI or warg API) to know which protocol the registry speaks"
        );
    }
    let body = response
        .bytes()
        .await
        .with_context(|| format!("registry `{name}`: reading {url}"))?;
    let meta: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("registry `{name}` returned garbage for {url}: it is not JSON"))?;
    let location = from_metadata(name, &meta, prefer)?;
    Ok(relative_to(location, base))
}

/// A document that names no host means the host that served it.
fn relative_to(location: Location, base: &str) -> Location {
    match location {
        Location::Warg(url) if url.is_empty() => Location::Warg(base.to_string()),
        Location::Oci(mut oci) if oci.registry.is_empty() => {
            oci.registry = host_of(base);
            oci.http = base.starts_with("http://");
            Location::Oci(oci)
        }
        other => other,
    }
}

fn host_of(base: &str) -> String {
    let url = url::Url::parse(base).ok();
    url.and_then(|u| {
        let host = u.host_str()?.to_string();
        Some(match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        })
    })
    .unwrap_or_else(|| base.to_string())
}

/// No document: ask the APIs. An OCI registry answers `/v2/` with 200 or a 401 challenge.
async fn probe(
    client: &reqwest::Client,
    name: &str,
    base: &str,
    prefer: Option<Protocol>,
) -> Result<Location> {
    let oci = || {
        Location::Oci(OciLocation {
            registry: host_of(base),
            prefix: String::new(),
            http: base.starts_with("http://"),
        })
    };
    match prefer {
        Some(Protocol::Oci) => return Ok(oci()),
        Some(Protocol::Warg) => return Ok(Location::Warg(base.to_string())),
        None => {}
    }
    let answers = |path: &'static str| async move {
        let response = client
            .get(format!("{base}{path}"))
            .timeout(TIMEOUT)
            .send()
            .await
            .ok()?;
        let status = response.status();
        let challenged = response
            .headers()
            .contains_key(reqwest::header::WWW_AUTHENTICATE);
        Some(status.is_success() || (status == reqwest::StatusCode::UNAUTHORIZED && challenged))
    };
    if answers("/v2/").await == Some(true) {
        tracing::debug!("registry `{name}` serves no registry.json but answers the OCI API");
        return Ok(oci());
    }
    if answers("/v1/fetch/checkpoint").await == Some(true) {
        tracing::debug!("registry `{name}` serves no registry.json but answers the warg API");
        return Ok(Location::Warg(base.to_string()));
    }
    bail!(
        "registry `{name}` at {base} serves no /.well-known/wasm-pkg/registry.json and answers \
         neither the OCI API (GET /v2/) nor the warg API (GET /v1/fetch/checkpoint); check the \
         URL, or name the protocol: `oci+{base}` or `warg+{base}`"
    )
}

/// Reads a registry metadata document (fetched, or inline in wkg's config).
pub fn from_metadata(
    name: &str,
    meta: &serde_json::Value,
    prefer: Option<Protocol>,
) -> Result<Location> {
    let super::answers::Offer {
        warg_url,
        oci_registry,
        oci_prefix,
        offers_oci,
        offers_warg,
        preferred,
    } = super::answers::Offer::of(meta);
    let preferred = match preferred.as_deref() {
        None => None,
        Some("oci") => Some(Protocol::Oci),
        Some("warg") => Some(Protocol::Warg),
        Some(other) => {
            if !offers_oci && !offers_warg {
                bail!(
                    "registry `{name}` prefers the `{other}` protocol, which this wtool does not \
                     speak (it speaks `oci` and `warg`)"
                );
            }
            None
        }
    };
    let choice = match (prefer.or(preferred), offers_warg, offers_oci) {
        (Some(Protocol::Oci), _, true) | (None, false, true) => Protocol::Oci,
        (Some(Protocol::Warg), true, _) | (None, true, _) => Protocol::Warg,
        (Some(p), _, _) => bail!(
            "registry `{name}` is to be used over {p}, but its metadata offers no {p} endpoint"
        ),
        (None, false, false) => bail!(
            "registry `{name}`'s metadata names no protocol wtool knows (expected an `oci` block \
             with `registry` and `namespacePrefix`, `ociRegistry`, or `wargUrl`)"
        ),
    };
    Ok(match choice {
        Protocol::Warg => Location::Warg(
            warg_url
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string(),
        ),
        Protocol::Oci => {
            let registry = oci_registry.unwrap_or_default();
            Location::Oci(OciLocation {
                http: !registry.is_empty() && is_loopback(&registry),
                registry,
                prefix: oci_prefix.unwrap_or_default(),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn oci(meta: serde_json::Value) -> OciLocation {
        match from_metadata("r", &meta, None).unwrap() {
            Location::Oci(o) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn current_and_legacy_oci_forms() {
        let current = oci(json!({"preferredProtocol": "oci",
            "oci": {"registry": "ghcr.io", "namespacePrefix": "webassembly/"}}));
        let legacy = oci(json!({"ociRegistry": "ghcr.io", "ociNamespacePrefix": "webassembly/"}));
        assert_eq!(current, legacy);
        assert_eq!(current.registry, "ghcr.io");
        assert_eq!(current.prefix, "webassembly/");
        assert!(!current.http);
        assert!(oci(json!({"oci": {"registry": "127.0.0.1:5000"}})).http);
    }

    #[test]
    fn warg_wins_when_both_are_offered_unless_oci_is_preferred() {
        let both = json!({"wargUrl": "https://w.example", "oci": {"registry": "o.example"}});
        assert!(
            matches!(from_metadata("r", &both, None).unwrap(), Location::Warg(u) if u == "https://w.example")
        );
        assert!(matches!(
            from_metadata("r", &both, Some(Protocol::Oci)).unwrap(),
            Location::Oci(_)
        ));
        let mut preferring = both.clone();
        preferring["preferredProtocol"] = json!("oci");
        assert!(matches!(
            from_metadata("r", &preferring, None).unwrap(),
            Location::Oci(_)
        ));
        assert!(from_metadata("r", &json!({"wargUrl": "x"}), Some(Protocol::Oci)).is_err());
    }

    #[test]
    fn a_document_without_a_host_means_its_own() {
        let l = relative_to(
            from_metadata("r", &json!({"oci": {"namespacePrefix": "p/"}}), None).unwrap(),
            "http://127.0.0.1:5000",
        );
        let Location::Oci(o) = l else { panic!() };
        assert_eq!(
            (o.registry.as_str(), o.prefix.as_str(), o.http),
            ("127.0.0.1:5000", "p/", true)
        );
    }
}
