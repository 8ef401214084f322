//! The OCI distribution view of the registry: repositories are packages (or, in generic
//! namespaces, any content), tags are versions, and every decision about uploads, manifests,
//! tags and access is made here. The front end in `api/oci/` only parses and translates.

mod access;
mod browse;
mod derive;
mod manifests;
mod progress;
mod publish;
mod reads;
mod uploads;

pub(crate) use manifests::references as manifest_references;
pub(crate) use reads::resolve_range;

pub(crate) use access::{Action, Credential, Identity};
pub(crate) use browse::OciPackageView;
pub(crate) use progress::Progress;
pub(crate) use reads::BlobRead;
pub(crate) use uploads::{MonolithicOutcome, UploadState};

use crate::{digest::Digest, store::StoreError};
use warg_crypto::signing::PrivateKey;
use warg_protocol::registry::PackageName;

/// The OCI settings the service enforces.
pub(crate) struct OciPolicy {
    pub namespace_prefix: String,
    pub generic_namespaces: Vec<String>,
    /// Generic namespaces whose tags may be re-pointed (mirrors, conformance runs).
    pub mutable_tag_namespaces: Vec<String>,
    pub upload_expiry_secs: u64,
    pub token_ttl_secs: u64,
    /// Signs warg records for releases pushed over OCI; packages allow it by granting it
    /// release permission (or by being created through OCI, which makes it their owner).
    pub publisher_key: PrivateKey,
    /// Signs the short-lived tokens of `/v2/token`.
    pub token_secret: Vec<u8>,
}

/// The error codes of the distribution spec (plus the two the HTTP layer needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    Unauthorized,
    Denied,
    Unsupported,
    /// A range or chunk offset that cannot be served (416).
    RangeInvalid,
    /// A body over the size limit (413).
    TooLarge,
    Internal,
    /// A shared backend did not answer (503); retrying may succeed.
    Unavailable,
    /// The store's disk is full (507).
    Full,
}

impl Code {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid | Code::RangeInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::TooLarge => "SIZE_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported => "UNSUPPORTED",
            Code::Internal => "UNKNOWN",
            Code::Unavailable => "UNAVAILABLE",
            Code::Full => "UNKNOWN",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct OciError {
    pub code: Code,
    pub message: String,
    /// For [`Code::RangeInvalid`] on an upload: where the session stands.
    pub upload: Option<UploadState>,
}

impl OciError {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            upload: None,
        }
    }

    pub(crate) fn internal(what: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!("{what}: {detail}");
        Self::new(Code::Internal, what)
    }
}

impl From<StoreError> for OciError {
    fn from(e: StoreError) -> Self {
        if e.is_full() {
            tracing::error!("{e}");
            return OciError::new(Code::Full, crate::store::FULL);
        }
        match e {
            StoreError::Unavailable(why) => {
                tracing::warn!("{why}");
                OciError::new(
                    Code::Unavailable,
                    format!("the registry's store is unavailable: {why}"),
                )
            }
            e => OciError::internal("the registry store failed", e),
        }
    }
}

pub(crate) type OciResult<T> = Result<T, OciError>;

/// A repository, classified once at the edge.
#[derive(Clone, Debug)]
pub(crate) enum Repo {
    /// `<prefix><namespace>/<name>`: the package `namespace:name`, with warg records.
    Package { repo: String, name: PackageName },
    /// A repository in a generic namespace: any content, no warg records.
    Generic { repo: String, namespace: String },
}

impl Repo {
    pub(crate) fn name(&self) -> &str {
        match self {
            Repo::Package { repo, .. } | Repo::Generic { repo, .. } => repo,
        }
    }

    pub(crate) fn namespace(&self) -> &str {
        match self {
            Repo::Package { name, .. } => name.namespace(),
            Repo::Generic { namespace, .. } => namespace,
        }
    }
}

/// A manifest reference: a tag or a digest.
#[derive(Clone, Debug)]
pub(crate) enum Reference {
    Tag(String),
    Digest(Digest),
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` for one path component.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'a'..=b'z' | b'0'..=b'9' => i += 1,
            b'.' => {
                if !b[i + 1].is_ascii_alphanumeric() {
                    return false;
                }
                i += 1;
            }
            b'_' => {
                let n = if b.get(i + 1) == Some(&b'_') { 2 } else { 1 };
                if !b[i + n].is_ascii_alphanumeric() {
                    return false;
                }
                i += n;
            }
            b'-' => {
                while b[i] == b'-' {
                    i += 1;
                }
                if !b[i].is_ascii_alphanumeric() {
                    return false;
                }
            }
            _ => return false,
        }
    }
    b.iter().all(|c| !c.is_ascii_uppercase())
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub(crate) fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

impl super::Service {
    fn oci(&self) -> &OciPolicy {
        &self.core.policies.oci
    }

    /// The repository a `/v2/<name>/…` path names.
    pub(crate) fn oci_repo(&self, raw: &str) -> OciResult<Repo> {
        let short: String = raw.chars().take(100).collect();
        if raw.len() > 255 || raw.split('/').any(|c| !valid_component(c)) {
            return Err(OciError::new(
                Code::NameInvalid,
                format!("`{short}` is not a valid repository name"),
            ));
        }
        let prefix = &self.oci().namespace_prefix;
        let rest = raw.strip_prefix(prefix.as_str()).ok_or_else(|| {
            OciError::new(
                Code::NameUnknown,
                format!(
                    "repository `{short}` is unknown: package repositories start with `{prefix}`"
                ),
            )
        })?;
        let mut parts = rest.split('/');
        let namespace = parts.next().unwrap_or_default();
        if self.oci().generic_namespaces.iter().any(|g| g == namespace) {
            return Ok(Repo::Generic {
                repo: raw.to_string(),
                namespace: namespace.to_string(),
            });
        }
        let name = match (parts.next(), parts.next()) {
            (Some(name), None) => PackageName::new(format!("{namespace}:{name}")).ok(),
            _ => None,
        };
        match name {
            Some(name) => Ok(Repo::Package {
                repo: raw.to_string(),
                name,
            }),
            None => Err(OciError::new(
                Code::NameInvalid,
                format!(
                    "`{short}` is not a package repository (`{prefix}<namespace>/<name>`, both kebab-case) and not in a generic namespace"
                ),
            )),
        }
    }

    /// The repository of a package, as OCI names it.
    pub(crate) fn oci_repo_of(&self, name: &PackageName) -> String {
        format!(
            "{}{}/{}",
            self.oci().namespace_prefix,
            name.namespace(),
            name.name()
        )
    }

    pub(crate) fn oci_namespace_prefix(&self) -> &str {
        &self.oci().namespace_prefix
    }

    pub(crate) fn oci_reference(&self, raw: &str) -> OciResult<Reference> {
        if raw.contains(':') {
            return Digest::parse(raw)
                .map(Reference::Digest)
                .map_err(|e| OciError::new(Code::DigestInvalid, e.to_string()));
        }
        if !valid_tag(raw) {
            let short: String = raw.chars().take(100).collect();
            return Err(OciError::new(
                Code::ManifestInvalid,
                format!("`{short}` is not a valid tag"),
            ));
        }
        Ok(Reference::Tag(raw.to_string()))
    }

    /// Drops expired upload sessions and their bytes.
    pub(crate) fn expire_uploads(&self) -> Result<usize, StoreError> {
        let idle = self.oci().upload_expiry_secs;
        self.core
            .uploads_seen
            .prune(std::time::Duration::from_secs(idle));
        self.core.stores.uploads.expire(idle)
    }

    pub(crate) fn upload_expiry_secs(&self) -> u64 {
        self.oci().upload_expiry_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_components_follow_the_spec_grammar() {
        for ok in ["a", "a0", "a.b", "a_b", "a__b", "a---b", "library"] {
            assert!(valid_component(ok), "{ok}");
        }
        for bad in ["", "A", "-a", "a-", "a..b", "a___b", "a._b", "a/b", "a b"] {
            assert!(!valid_component(bad), "{bad}");
        }
        assert!(valid_tag("1.0.0-rc.1"));
        assert!(!valid_tag("1.0.0+build"));
        assert!(!valid_tag(".x"));
    }
}
