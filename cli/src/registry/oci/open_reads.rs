//! Reads from a registry that needs no credentials to read. oci-client, called without
//! credentials, sends a `GET /v2/` before every single request to learn whether to
//! authenticate (it caches only tokens, and there is none to cache), which doubles a cold
//! fetch. When wtool has no credentials and `/v2/` answered 200 without a challenge, it reads
//! with plain GETs instead; the answers go through the same checks and error types.

use oci_client::errors::{OciDistributionError, OciEnvelope};

pub struct OpenReads {
    client: reqwest013::Client,
    base: String,
    /// The last `Retry-After` a 429 or 503 carried, for the retry that follows.
    retry_after: std::sync::Mutex<Option<std::time::Duration>>,
}

type Result<T> = std::result::Result<T, OciDistributionError>;

impl OpenReads {
    pub fn new(client: reqwest013::Client, base: String) -> Self {
        Self {
            client,
            base,
            retry_after: Default::default(),
        }
    }

    /// How long the registry asked to wait, once.
    pub fn take_retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after.lock().unwrap().take()
    }

    /// Whether `/v2/` lets an anonymous caller in without a challenge. A throttled or
    /// failing answer is an error, so that the caller retries it like any other.
    pub async fn open(&self) -> Result<bool> {
        let url = format!("{}/v2/", self.base);
        let r = self.client.get(&url).send().await?;
        let status = r.status();
        if status.as_u16() == 429 || status.is_server_error() {
            self.note_retry_after(&r);
            return Err(OciDistributionError::ServerError {
                code: status.as_u16(),
                url,
                message: String::new(),
            });
        }
        Ok(status.is_success()
            && !r
                .headers()
                .contains_key(reqwest013::header::WWW_AUTHENTICATE))
    }

    fn note_retry_after(&self, response: &reqwest013::Response) {
        // Seconds; the HTTP-date form is rare from registries and falls back to backoff.
        let wait = response
            .headers()
            .get(reqwest013::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs);
        *self.retry_after.lock().unwrap() = wait;
    }

    async fn get(&self, path: &str, accept: Option<&str>) -> Result<(Option<String>, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.get(&url);
        if let Some(a) = accept {
            request = request.header(reqwest013::header::ACCEPT, a);
        }
        let response = request.send().await?;
        let status = response.status();
        let digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if matches!(status.as_u16(), 429 | 503) {
            self.note_retry_after(&response);
        }
        let body = response.bytes().await?.to_vec();
        if status == reqwest013::StatusCode::OK {
            return Ok((digest, body));
        }
        if status == reqwest013::StatusCode::UNAUTHORIZED {
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
            .get(&format!("/v2/{repository}/tags/list"), None)
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
            .get(&format!("/v2/{repository}/manifests/{tag}"), Some(accept))
            .await?;
        let actual = crate::digest::Digest::of(&body).to_string();
        if let Some(expected) = header.filter(|h| *h != actual) {
            return Err(OciDistributionError::DigestError(
                oci_client::errors::DigestError::VerificationError { expected, actual },
            ));
        }
        Ok((body, actual))
    }

    pub async fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let (_, body) = self
            .get(&format!("/v2/{repository}/blobs/{digest}"), None)
            .await?;
        Ok(body)
    }
}
