//! Reads from an OCI registry (tags, manifests, blobs) with plain GETs, and the token flow
//! they need. oci-client asks `GET /v2/` before every request it makes without a cached token,
//! hides `Retry-After`, and cannot exchange a Docker identity token; so wtool reads on its own,
//! and only pushes go through oci-client.
//!
//! A request goes out with what is known for its repository: a token issued for it earlier,
//! or the static secret (basic credentials, a bearer token). A `401` with a `Bearer` challenge
//! is answered once, from the challenge's realm: anonymously, with the basic credentials, or
//! with the identity token as an OAuth2 refresh token (as Docker does for ACR). The token is
//! kept for the repository, and the request sent again.

use super::auth::Secret;
use crate::registry::answers::{issued_token, Challenge};
use oci_client::errors::{OciDistributionError, OciEnvelope};
use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

type Result<T> = std::result::Result<T, OciDistributionError>;

pub struct Reads {
    client: reqwest::Client,
    base: String,
    secret: Secret,
    /// `Authorization` values issued per scope (`repository:<name>:pull`).
    tokens: Mutex<HashMap<String, HeaderValue>>,
    /// The last `Retry-After` a 429 or 503 carried, for the retry that follows.
    retry_after: Mutex<Option<Duration>>,
}

impl Reads {
    pub fn new(client: reqwest::Client, base: String, secret: Secret) -> Self {
        Self {
            client,
            base,
            secret,
            tokens: Default::default(),
            retry_after: Default::default(),
        }
    }

    /// How long the registry asked to wait, once.
    pub fn take_retry_after(&self) -> Option<Duration> {
        self.retry_after.lock().unwrap().take()
    }

    fn note_retry_after(&self, response: &reqwest::Response) {
        // Seconds; the HTTP-date form is rare from registries and falls back to backoff.
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        *self.retry_after.lock().unwrap() = wait;
    }

    /// A token for `scope` from the challenge's realm.
    pub async fn token(&self, challenge_header: &str, scope: &str) -> Result<String> {
        let Some(challenge) = Challenge::parse(challenge_header) else {
            return Err(OciDistributionError::AuthenticationFailure(format!(
                "the registry's challenge `{challenge_header}` names no Bearer realm"
            )));
        };
        let mut query = vec![("scope", scope)];
        if let Some(s) = &challenge.service {
            query.push(("service", s));
        }
        let request = match &self.secret {
            Secret::Identity(refresh) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("refresh_token", refresh)
                    .append_pair("client_id", "wtool");
                for (k, v) in &query {
                    form.append_pair(k, v);
                }
                self.client
                    .post(&challenge.realm)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form.finish())
            }
            Secret::Basic { user, password } => self
                .client
                .get(url_with(&challenge.realm, &query))
                .basic_auth(user, Some(password)),
            Secret::Anonymous | Secret::Bearer(_) => {
                self.client.get(url_with(&challenge.realm, &query))
            }
        };
        let response = request.send().await?;
        let status = response.status();
        if matches!(status.as_u16(), 429 | 503) {
            self.note_retry_after(&response);
        }
        if !status.is_success() {
            if status.is_server_error() || status.as_u16() == 429 {
                return Err(OciDistributionError::ServerError {
                    code: status.as_u16(),
                    url: challenge.realm,
                    message: String::new(),
                });
            }
            return Err(OciDistributionError::AuthenticationFailure(format!(
                "the token service at {} answered {status}",
                challenge.realm
            )));
        }
        let issued = issued_token(&response.bytes().await?).map_err(|e| {
            OciDistributionError::RegistryTokenDecodeError(format!(
                "the token service at {} answered something else than a token: {e}",
                challenge.realm
            ))
        })?;
        let token = issued.ok_or_else(|| {
            OciDistributionError::RegistryTokenDecodeError(format!(
                "the token service at {} issued no token",
                challenge.realm
            ))
        })?;
        Ok(token)
    }

    /// What goes in `Authorization` before any challenge: the static secret.
    fn preset(&self) -> Option<HeaderValue> {
        let value = match &self.secret {
            Secret::Basic { user, password } => {
                use base64::Engine;
                let pair = format!("{user}:{password}");
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }
            Secret::Bearer(token) => format!("Bearer {token}"),
            Secret::Anonymous | Secret::Identity(_) => return None,
        };
        let mut value = HeaderValue::from_str(&value).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    async fn send(
        &self,
        url: &str,
        accept: Option<&str>,
        auth: Option<&HeaderValue>,
    ) -> Result<reqwest::Response> {
        let mut request = self.client.get(url);
        if let Some(a) = accept {
            request = request.header(reqwest::header::ACCEPT, a);
        }
        if let Some(a) = auth {
            request = request.header(AUTHORIZATION, a.clone());
        }
        Ok(request.send().await?)
    }

    async fn get(
        &self,
        repository: &str,
        path: &str,
        accept: Option<&str>,
        limit: u64,
    ) -> Result<(Option<String>, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        let scope = format!("repository:{repository}:pull");
        let known = self.tokens.lock().unwrap().get(&scope).cloned();
        let mut auth = known.clone().or_else(|| self.preset());
        let mut response = self.send(&url, accept, auth.as_ref()).await?;
        // One answer to a challenge; a static bearer token was already what was asked for.
        if response.status() == StatusCode::UNAUTHORIZED
            && !matches!(self.secret, Secret::Bearer(_))
        {
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if let Some(challenge) = challenge.filter(|c| Challenge::parse(c).is_some()) {
                let token = self.token(&challenge, &scope).await?;
                let mut issued =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        OciDistributionError::RegistryTokenDecodeError(
                            "the issued token is not a header value".into(),
                        )
                    })?;
                issued.set_sensitive(true);
                self.tokens
                    .lock()
                    .unwrap()
                    .insert(scope.clone(), issued.clone());
                auth = Some(issued);
                response = self.send(&url, accept, auth.as_ref()).await?;
            }
        }
        let status = response.status();
        let digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if matches!(status.as_u16(), 429 | 503) {
            self.note_retry_after(&response);
        }
        let body = bounded_body(response, &url, limit).await?;
        if status == StatusCode::OK {
            return Ok((digest, body));
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(OciDistributionError::UnauthorizedError { url });
        }
        if status.is_client_error() {
            if let Ok(envelope) = serde_json::from_slice::<OciEnvelope>(&body) {
                return Err(OciDistributionError::RegistryError { envelope, url });
            }
        }
        Err(OciDistributionError::ServerError {
            code: status.as_u16(),
            url,
            message: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    pub async fn tags(&self, repository: &str) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct TagList {
            tags: Option<Vec<String>>,
        }
        let (_, body) = self
            .get(
                repository,
                &format!("/v2/{repository}/tags/list"),
                None,
                TAGS_LIMIT,
            )
            .await?;
        let list: TagList = serde_json::from_slice(&body)?;
        Ok(list.tags.unwrap_or_default())
    }

    /// A manifest and its `Docker-Content-Digest`, which must name these bytes.
    pub async fn manifest(
        &self,
        repository: &str,
        tag: &str,
        accept: &str,
    ) -> Result<(Vec<u8>, String)> {
        let (header, body) = self
            .get(
                repository,
                &format!("/v2/{repository}/manifests/{tag}"),
                Some(accept),
                MANIFEST_LIMIT,
            )
            .await?;
        let actual = crate::digest::Digest::of(&body).to_string();
        if let Some(expected) = header.filter(|h| *h != actual) {
            return Err(OciDistributionError::DigestError(
                oci_client::errors::DigestError::VerificationError { expected, actual },
            ));
        }
        Ok((body, actual))
    }

    /// A blob of `size` bytes, as its descriptor says: a registry that sends more is cut off.
    pub async fn blob(&self, repository: &str, digest: &str, size: u64) -> Result<Vec<u8>> {
        let (_, body) = self
            .get(
                repository,
                &format!("/v2/{repository}/blobs/{digest}"),
                None,
                size,
            )
            .await?;
        Ok(body)
    }

    /// The challenge `GET /v2/` answers with, if any: what a push must answer first.
    pub async fn challenge(&self) -> Result<Option<String>> {
        let response = self.send(&format!("{}/v2/", self.base), None, None).await?;
        if response.status().as_u16() == 429 || response.status().is_server_error() {
            self.note_retry_after(&response);
            return Err(OciDistributionError::ServerError {
                code: response.status().as_u16(),
                url: format!("{}/v2/", self.base),
                message: String::new(),
            });
        }
        Ok(response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .filter(|c| Challenge::parse(c).is_some())
            .map(str::to_string))
    }
}

fn url_with(base: &str, query: &[(&str, &str)]) -> String {
    let mut url = base.to_string();
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        form.append_pair(k, v);
    }
    url.push(if base.contains('?') { '&' } else { '?' });
    url.push_str(&form.finish());
    url
}

/// How an answer cut off at its bound ends its message (oci-client uses the same error for
/// other protocol breaches).
pub const CUT_OFF: &str = "so the answer was cut off";

/// The most a manifest may be, as distribution's own limit.
const MANIFEST_LIMIT: u64 = 4 << 20;
/// The most a tag list may be (a million tags or so).
const TAGS_LIMIT: u64 = 64 << 20;
/// The most of an error answer that is kept.
const ERROR_LIMIT: u64 = 64 << 10;

/// The body, refused once it is past `limit` bytes (an error answer is cut at
/// [`ERROR_LIMIT`] instead): a registry that sends more than it declared, or without end, gets
/// no more memory than an honest one.
async fn bounded_body(mut response: reqwest::Response, url: &str, limit: u64) -> Result<Vec<u8>> {
    let ok = response.status().is_success();
    let cap = if ok { limit } else { ERROR_LIMIT };
    let too_long = || {
        OciDistributionError::SpecViolationError(format!(
            "{url} sent more than the {limit} bytes it is allowed (its descriptor or wtool's \
             bound), {CUT_OFF}"
        ))
    };
    if ok && response.content_length().is_some_and(|n| n > cap) {
        return Err(too_long());
    }
    let mut body = Vec::with_capacity(response.content_length().unwrap_or(0).min(cap) as usize);
    while let Some(chunk) = response.chunk().await? {
        if body.len() as u64 + chunk.len() as u64 > cap {
            if !ok {
                let room = (cap as usize).saturating_sub(body.len());
                body.extend_from_slice(&chunk[..room.min(chunk.len())]);
                break;
            }
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_challenge_names_its_realm_and_service() {
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull""#
            ),
            Some(Challenge {
                realm: "https://ghcr.io/token".into(),
                service: Some("ghcr.io".into())
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="x", Bearer realm="https://auth/t""#),
            Some(Challenge {
                realm: "https://auth/t".into(),
                service: None
            })
        );
        assert_eq!(Challenge::parse(r#"Basic realm="registry""#), None);
        assert_eq!(Challenge::parse("Bearer service=\"x\""), None);
    }

    #[test]
    fn a_realm_keeps_its_own_query() {
        assert_eq!(
            url_with("https://a/t", &[("scope", "repository:x/y:pull")]),
            "https://a/t?scope=repository%3Ax%2Fy%3Apull"
        );
        assert_eq!(
            url_with("https://a/t?x=1", &[("s", "v")]),
            "https://a/t?x=1&s=v"
        );
    }
}
