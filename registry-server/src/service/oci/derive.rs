//! The OCI manifest and config of a release published over warg, derived from the release
//! alone (name, version, content digest and size, record timestamp) in canonical JSON: the
//! same bytes, so the same digests, on every instance and after every restart.

use crate::digest::Digest;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use warg_protocol::registry::PackageName;

pub(crate) const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const WASM_CONFIG_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub(crate) const WASM_LAYER_TYPE: &str = "application/wasm";

pub(crate) struct Derived {
    pub config: Bytes,
    pub config_digest: Digest,
    pub manifest: Bytes,
    pub manifest_digest: Digest,
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

pub(crate) fn derive(
    name: &PackageName,
    version: &str,
    content: &Digest,
    size: u64,
    timestamp: std::time::SystemTime,
) -> Derived {
    let created = DateTime::<Utc>::from(timestamp).to_rfc3339_opts(SecondsFormat::AutoSi, true);
    // Keys sorted, no whitespace: the form oci-client writes, and the one every instance
    // produces byte for byte.
    let config = format!(
        r#"{{"architecture":"wasm","author":null,"component":null,"created":{},"layerDigests":[{}],"os":"wasip2"}}"#,
        quoted(&created),
        quoted(&content.to_string()),
    );
    let config_digest = Digest::sha256(config.as_bytes());
    let title = format!("{}.wasm", name.name());
    let manifest = format!(
        r#"{{"annotations":{{"org.opencontainers.image.created":{created},"org.opencontainers.image.title":{title},"org.opencontainers.image.version":{version}}},"config":{{"digest":{cd},"mediaType":"{WASM_CONFIG_TYPE}","size":{cs}}},"layers":[{{"annotations":{{"org.opencontainers.image.title":{title}}},"digest":{ld},"mediaType":"{WASM_LAYER_TYPE}","size":{size}}}],"mediaType":"{MANIFEST_TYPE}","schemaVersion":2}}"#,
        created = quoted(&created),
        title = quoted(&title),
        version = quoted(version),
        cd = quoted(&config_digest.to_string()),
        cs = config.len(),
        ld = quoted(&content.to_string()),
    );
    let manifest_digest = Digest::sha256(manifest.as_bytes());
    Derived {
        config: Bytes::from(config),
        config_digest,
        manifest: Bytes::from(manifest),
        manifest_digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_stable_and_valid_json() {
        let name = PackageName::new("ns:pkg").unwrap();
        let content = Digest::sha256(b"wasm");
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let a = derive(&name, "1.2.3", &content, 4, t);
        let b = derive(&name, "1.2.3", &content, 4, t);
        assert_eq!(a.manifest, b.manifest);
        assert_eq!(a.manifest_digest, Digest::sha256(&b.manifest));
        let m: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(m["layers"][0]["digest"], content.to_string());
        assert_eq!(m["config"]["size"], a.config.len());
        let c: serde_json::Value = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(c["created"], "2023-11-14T22:13:20.123Z");
    }
}
