//! What registries answer, parsed: a `Bearer` challenge, a token service's answer, and a
//! registry metadata document (`registry.json`, or wkg's inline `metadata`). These are pure
//! functions over untrusted text, so the fuzz targets compile this file as it is.

/// A `Bearer` challenge: where to ask for a token, and for which service.
#[derive(Debug, PartialEq)]
pub struct Challenge {
    pub realm: String,
    pub service: Option<String>,
}

impl Challenge {
    /// The first `Bearer` challenge with a realm in a `WWW-Authenticate` value.
    pub fn parse(header: &str) -> Option<Self> {
        http_auth::parser::ChallengeParser::new(header)
            .filter_map(|c| c.ok())
            .filter(|c| c.scheme.eq_ignore_ascii_case("Bearer"))
            .find_map(|c| {
                let param = |name: &str| {
                    c.params
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.to_unescaped())
                };
                Some(Challenge {
                    realm: param("realm")?,
                    service: param("service"),
                })
            })
    }
}

/// The token a token service issued: `token` (Docker's name) or `access_token` (OAuth2's).
/// `Ok(None)` when the answer is JSON but names neither.
pub fn issued_token(body: &[u8]) -> Result<Option<String>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Issued {
        token: Option<String>,
        access_token: Option<String>,
    }
    let issued: Issued = serde_json::from_slice(body)?;
    Ok(issued.token.or(issued.access_token))
}

/// What a registry metadata document offers, in its current form (`oci: { registry,
/// namespacePrefix }`, `warg: { url }`) or the legacy one (`ociRegistry`,
/// `ociNamespacePrefix`, `wargUrl`).
#[derive(Debug, Default, PartialEq)]
pub struct Offer {
    pub warg_url: Option<String>,
    pub oci_registry: Option<String>,
    pub oci_prefix: Option<String>,
    pub offers_oci: bool,
    pub offers_warg: bool,
    /// `preferredProtocol`, as written.
    pub preferred: Option<String>,
}

impl Offer {
    pub fn of(meta: &serde_json::Value) -> Self {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        let warg_url = meta
            .get("wargUrl")
            .and_then(text)
            .or_else(|| meta.pointer("/warg/url").and_then(text));
        let oci_block = meta.get("oci");
        let oci_registry = oci_block
            .and_then(|o| o.get("registry"))
            .or_else(|| meta.get("ociRegistry"))
            .and_then(text);
        let oci_prefix = oci_block
            .and_then(|o| o.get("namespacePrefix"))
            .or_else(|| meta.get("ociNamespacePrefix"))
            .and_then(text);
        Self {
            offers_oci: oci_block.is_some() || oci_registry.is_some() || oci_prefix.is_some(),
            offers_warg: warg_url.is_some() || meta.get("warg").is_some(),
            preferred: meta
                .get("preferredProtocol")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            warg_url,
            oci_registry,
            oci_prefix,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_tokens_and_offers() {
        let c = Challenge::parse(
            r#"Basic realm="x", Bearer realm="https://auth.example/token",service="reg""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.example/token");
        assert_eq!(c.service.as_deref(), Some("reg"));
        assert!(Challenge::parse("Bearer service=\"no-realm\"").is_none());
        assert_eq!(
            issued_token(br#"{"access_token":"t"}"#).unwrap().as_deref(),
            Some("t")
        );
        assert_eq!(issued_token(br#"{"expires_in":3}"#).unwrap(), None);
        assert!(issued_token(b"<html>").is_err());
        let offer = Offer::of(&serde_json::json!({"ociRegistry": "ghcr.io"}));
        assert!(offer.offers_oci && !offer.offers_warg);
    }
}
