//! Manifest pushes: parse and check the exact bytes (never re-serialised), check what they
//! refer to, apply the package rules (a Wasm layer and config, immutable versions, a warg
//! release) and store them: bytes first, then the index row and tag in one transaction.

use super::{derive, Code, OciError, OciResult, Reference, Repo};
use crate::{
    digest::Digest,
    service::Service,
    store::{ManifestRow, TagOutcome},
};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// What a push stored (or found already stored).
pub(crate) struct PutManifest {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

fn invalid(message: impl Into<String>) -> OciError {
    OciError::new(Code::ManifestInvalid, message)
}

/// The parts of a manifest the registry looks at.
struct Parsed {
    media_type: String,
    config: Option<(String, Digest, u64)>,
    /// Media type, digest, and whether the blob must be present.
    layers: Vec<(String, Digest, bool)>,
    children: Vec<Digest>,
    subject: Option<Digest>,
    artifact_type: Option<String>,
    annotations: Option<String>,
}

fn descriptor(v: &Value, what: &str) -> OciResult<(String, Digest, u64)> {
    let media_type = v["mediaType"]
        .as_str()
        .ok_or_else(|| invalid(format!("{what} has no mediaType")))?;
    let digest = v["digest"]
        .as_str()
        .ok_or_else(|| invalid(format!("{what} has no digest")))?;
    let digest = Digest::parse(digest).map_err(|e| invalid(format!("{what}: {e}")))?;
    let size = v["size"]
        .as_u64()
        .ok_or_else(|| invalid(format!("{what} has no valid size")))?;
    Ok((media_type.to_string(), digest, size))
}

fn parse(bytes: &[u8], content_type: Option<&str>) -> OciResult<Parsed> {
    let json: Value = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("the manifest is not JSON: {e}")))?;
    if !json.is_object() {
        return Err(invalid("the manifest is not a JSON object"));
    }
    let declared = json["mediaType"].as_str();
    let content_type = content_type.map(|c| c.split(';').next().unwrap_or(c).trim());
    let media_type = match (declared, content_type) {
        (Some(d), Some(c)) if d != c => {
            return Err(invalid(format!(
                "the manifest's mediaType `{d}` differs from its Content-Type `{c}`"
            )))
        }
        (Some(d), _) => d,
        (None, Some(c)) => c,
        (None, None) => return Err(invalid("the manifest has no mediaType and no Content-Type")),
    }
    .to_string();
    if json["schemaVersion"].as_u64() != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }
    let subject = match json.get("subject") {
        None | Some(Value::Null) => None,
        Some(s) => Some(descriptor(s, "the subject")?.1),
    };
    let annotations = json
        .get("annotations")
        .filter(|a| a.is_object())
        .map(|a| a.to_string());
    let mut parsed = Parsed {
        media_type: media_type.clone(),
        config: None,
        layers: Vec::new(),
        children: Vec::new(),
        subject,
        artifact_type: json["artifactType"].as_str().map(str::to_string),
        annotations,
    };
    match media_type.as_str() {
        derive::MANIFEST_TYPE | DOCKER_MANIFEST => {
            // oci-spec checks the structure: descriptors, digests, required fields.
            oci_spec::image::ImageManifest::from_reader(bytes)
                .map_err(|e| invalid(format!("not a valid image manifest: {e}")))?;
            let config = descriptor(&json["config"], "the config")?;
            if parsed.artifact_type.is_none() {
                parsed.artifact_type = Some(config.0.clone());
            }
            parsed.config = Some(config);
            for (i, layer) in json["layers"].as_array().into_iter().flatten().enumerate() {
                let (media_type, digest, _) = descriptor(layer, &format!("layer {i}"))?;
                let external = media_type.contains("nondistributable")
                    || layer.get("urls").is_some_and(|u| u.is_array());
                parsed.layers.push((media_type, digest, !external));
            }
        }
        OCI_INDEX | DOCKER_LIST => {
            oci_spec::image::ImageIndex::from_reader(bytes)
                .map_err(|e| invalid(format!("not a valid image index: {e}")))?;
            for (i, m) in json["manifests"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                parsed
                    .children
                    .push(descriptor(m, &format!("manifest {i}"))?.1);
            }
        }
        other => {
            return Err(invalid(format!(
                "manifest media type `{other}` is not supported"
            )))
        }
    }
    Ok(parsed)
}

/// What the registry reads of a manifest, before it looks at the store: the digests it refers
/// to, or why it is refused.
pub(crate) fn references(bytes: &[u8], content_type: Option<&str>) -> Result<Vec<Digest>, String> {
    let parsed = parse(bytes, content_type).map_err(|e| e.to_string())?;
    let mut all: Vec<Digest> = parsed.config.into_iter().map(|c| c.1).collect();
    all.extend(parsed.layers.into_iter().map(|l| l.1));
    all.extend(parsed.children);
    all.extend(parsed.subject);
    Ok(all)
}

impl Service {
    async fn blob_exists(&self, digest: &Digest) -> OciResult<bool> {
        Ok(self.core.stores.content.size(digest).await?.is_some())
    }

    async fn check_references(&self, repo: &Repo, parsed: &Parsed) -> OciResult<()> {
        let missing = |d: &Digest| {
            OciError::new(
                Code::ManifestBlobUnknown,
                format!(
                    "the manifest refers to `{d}`, which `{}` does not hold",
                    repo.name()
                ),
            )
        };
        if let Some((_, d, _)) = &parsed.config {
            if !self.blob_exists(d).await? {
                return Err(missing(d));
            }
        }
        for (_, d, required) in &parsed.layers {
            if *required && !self.blob_exists(d).await? {
                return Err(missing(d));
            }
        }
        for d in &parsed.children {
            if self.core.stores.oci.manifest(repo.name(), d)?.is_none() {
                return Err(missing(d));
            }
        }
        Ok(())
    }

    /// Stores a pushed manifest under `reference` (a tag, or its own digest).
    pub(crate) async fn oci_put_manifest(
        &self,
        repo: &Repo,
        reference: &Reference,
        content_type: Option<&str>,
        bytes: Bytes,
    ) -> OciResult<PutManifest> {
        let digest = match reference {
            Reference::Digest(d) => {
                let found = Digest::of(d.algorithm(), &bytes);
                if &found != d {
                    return Err(OciError::new(
                        Code::DigestInvalid,
                        format!("the manifest has digest `{found}`, not `{d}`"),
                    ));
                }
                found
            }
            Reference::Tag(_) => Digest::sha256(&bytes),
        };
        let parsed = parse(&bytes, content_type)?;
        self.check_references(repo, &parsed).await?;
        let tag = match reference {
            Reference::Tag(t) => Some(t.as_str()),
            Reference::Digest(_) => None,
        };
        if let (Repo::Package { .. }, None) = (repo, &parsed.subject) {
            let Some(tag) = tag else {
                return Err(OciError::new(
                    Code::Denied,
                    "a package's manifests are pushed under their version as the tag",
                ));
            };
            if let Some(existing) = self.release_push(repo, tag, &parsed).await? {
                return Ok(PutManifest {
                    digest: existing,
                    subject: None,
                });
            }
        }
        self.store_manifest(repo, &digest, tag, &parsed, &bytes)
            .await
    }

    async fn store_manifest(
        &self,
        repo: &Repo,
        digest: &Digest,
        tag: Option<&str>,
        parsed: &Parsed,
        bytes: &Bytes,
    ) -> OciResult<PutManifest> {
        if !self.blob_exists(digest).await? {
            let body = futures_util::stream::once(std::future::ready(Ok(bytes.clone())));
            self.core.stores.content.write(digest, body.boxed()).await?;
        }
        let row = ManifestRow {
            repo: repo.name().to_string(),
            digest: digest.clone(),
            media_type: parsed.media_type.clone(),
            size: bytes.len() as u64,
            subject: parsed.subject.clone(),
            artifact_type: parsed.artifact_type.clone(),
            annotations: parsed.annotations.clone(),
        };
        let move_tag = match repo {
            Repo::Generic { namespace, .. } => self
                .oci()
                .mutable_tag_namespaces
                .iter()
                .any(|n| n == namespace),
            Repo::Package { .. } => false,
        };
        match self.core.stores.oci.put_manifest(&row, tag, move_tag)? {
            TagOutcome::Stored => {}
            TagOutcome::TagExists(existing) if &existing == digest => {}
            TagOutcome::TagExists(existing) => {
                let tag = tag.unwrap_or_default();
                // A package's re-push with the same layer is settled in `release_push`; one
                // that races another push of the same version lands here.
                if let Repo::Package { .. } = repo {
                    if self.same_layer(repo, &existing, parsed).await? {
                        return Ok(PutManifest {
                            digest: existing,
                            subject: None,
                        });
                    }
                }
                return Err(OciError::new(
                    Code::Denied,
                    format!(
                        "tag `{tag}` of `{}` is immutable: it already points at `{existing}`",
                        repo.name()
                    ),
                ));
            }
        }
        tracing::info!(repo = repo.name(), %digest, tag, "OCI manifest stored");
        Ok(PutManifest {
            digest: digest.clone(),
            subject: parsed.subject.clone(),
        })
    }

    /// Whether the stored manifest `existing` has the same single layer as `parsed`.
    async fn same_layer(&self, repo: &Repo, existing: &Digest, parsed: &Parsed) -> OciResult<bool> {
        let body = self
            .oci_manifest(repo, &Reference::Digest(existing.clone()))
            .await?;
        let stored = parse(&body.bytes, Some(&body.media_type))?;
        Ok(stored.layers.first().map(|l| &l.1) == parsed.layers.first().map(|l| &l.1))
    }

    /// The package rules for a version push. `Some(digest)` when the version exists with the
    /// same layer: the push is accepted and changes nothing.
    async fn release_push(
        &self,
        repo: &Repo,
        tag: &str,
        parsed: &Parsed,
    ) -> OciResult<Option<Digest>> {
        let Repo::Package { name, .. } = repo else {
            return Ok(None);
        };
        let version = semver::Version::parse(tag).map_err(|e| {
            OciError::new(
                Code::Denied,
                format!(
                    "tag `{tag}` is not a version: a package's tags are its semver versions ({e})"
                ),
            )
        })?;
        if parsed.media_type != derive::MANIFEST_TYPE {
            return Err(invalid(format!(
                "a package's manifest must be `{}`, not `{}`",
                derive::MANIFEST_TYPE,
                parsed.media_type
            )));
        }
        let (config_type, config_digest, _) =
            parsed.config.clone().ok_or_else(|| invalid("no config"))?;
        if config_type != derive::WASM_CONFIG_TYPE {
            return Err(invalid(format!(
                "a package's config must be `{}`, not `{config_type}`",
                derive::WASM_CONFIG_TYPE
            )));
        }
        let [(layer_type, layer, _)] = parsed.layers.as_slice() else {
            return Err(invalid(format!(
                "a package has exactly one layer, this manifest has {}",
                parsed.layers.len()
            )));
        };
        if layer_type != derive::WASM_LAYER_TYPE {
            return Err(invalid(format!(
                "a package's layer must be `{}`, not `{layer_type}`",
                derive::WASM_LAYER_TYPE
            )));
        }
        let Some(content) = layer.to_any_hash() else {
            return Err(invalid("a package's layer must have a sha256 digest"));
        };

        // Immutability, against what OCI and warg already hold for this version.
        if let Some(existing) = self.core.stores.oci.tag(repo.name(), tag)? {
            if self.same_layer(repo, &existing, parsed).await? {
                return Ok(Some(existing));
            }
            return Err(immutable(repo, tag));
        }
        let releases = self.releases(repo).unwrap_or_default();
        if let Some(release) = releases.iter().find(|r| r.version == version.to_string()) {
            if release.yanked {
                return Err(OciError::new(
                    Code::Denied,
                    format!("version {tag} of `{name}` was yanked and cannot be published again"),
                ));
            }
            return match &release.content {
                Some(c) if c == layer => {
                    let served = self
                        .oci_manifest(repo, &Reference::Tag(tag.to_string()))
                        .await?;
                    Ok(Some(served.digest))
                }
                Some(_) => Err(immutable(repo, tag)),
                None => Err(OciError::new(
                    Code::Denied,
                    format!("version {tag} of `{name}` was yanked and cannot be published again"),
                )),
            };
        }

        self.check_wasm_config(&config_digest, layer).await?;
        self.check_layer(layer).await?;
        self.record_release(name, &version, content).await?;
        Ok(None)
    }

    async fn check_wasm_config(&self, digest: &Digest, layer: &Digest) -> OciResult<()> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)] // parsed to check the schema clients rely on
        struct WasmConfig {
            created: String,
            author: Option<String>,
            architecture: String,
            os: String,
            layer_digests: Vec<String>,
            component: Option<Value>,
        }
        let bytes = self
            .read_small_blob(digest, 1024 * 1024)
            .await?
            .ok_or_else(|| invalid(format!("config `{digest}` is missing")))?;
        let config: WasmConfig = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("the config does not parse as a Wasm config: {e}")))?;
        chrono::DateTime::parse_from_rfc3339(&config.created).map_err(|e| {
            invalid(format!(
                "the config's `created` is not an RFC 3339 time: {e}"
            ))
        })?;
        if config.architecture != "wasm" {
            return Err(invalid("the config's architecture must be `wasm`"));
        }
        if config.layer_digests.first().map(String::as_str) != Some(&layer.to_string()) {
            return Err(invalid("the config's layerDigests do not list the layer"));
        }
        Ok(())
    }

    /// The content policy, over the stored layer.
    async fn check_layer(&self, layer: &Digest) -> OciResult<()> {
        let verdict = match self.core.uploads_seen.verdict(layer) {
            Some(verdict) => verdict,
            None => self.check_stored_layer(layer).await?,
        };
        verdict.map_err(|r| {
            self.core.metrics.record_rejected();
            invalid(format!(
                "layer `{layer}` was rejected by the content policy: {r}"
            ))
        })
    }

    /// The content policy's verdict on a stored layer that was not checked as it came in.
    async fn check_stored_layer(
        &self,
        layer: &Digest,
    ) -> OciResult<Result<(), crate::policy::ContentRejection>> {
        let Some(crate::store::Content::Stream { mut body, .. }) =
            self.core.stores.content.read(layer).await?
        else {
            return Err(invalid(format!("layer `{layer}` is missing")));
        };
        let mut check = self.core.policies.content.start();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(crate::store::StoreError::Io)?;
            if let Err(r) = tokio::task::block_in_place(|| check.feed(&chunk)) {
                return Ok(Err(r));
            }
        }
        let verdict = tokio::task::block_in_place(|| check.finish()).map(drop);
        self.core.uploads_seen.remember(layer, verdict.clone());
        Ok(verdict)
    }
}

fn immutable(repo: &Repo, tag: &str) -> OciError {
    OciError::new(
        Code::Denied,
        format!(
            "version {tag} of `{}` is immutable: it was already published with another layer",
            repo.name()
        ),
    )
}
