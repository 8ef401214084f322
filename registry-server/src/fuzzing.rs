//! The parsers the server runs on what clients send, each as the server calls it, for the fuzz
//! targets in `fuzz/`. Not an API: nothing here is stable.

use warg_protocol::{package, ProtoEnvelope, ProtoEnvelopeBody};

/// A manifest push's bytes and `Content-Type`: the digests it refers to, or the refusal.
pub fn oci_manifest(bytes: &[u8], content_type: Option<&str>) -> Result<Vec<String>, String> {
    crate::service::oci::manifest_references(bytes, content_type)
        .map(|all| all.iter().map(ToString::to_string).collect())
}

/// A blob read's `Range` against a blob of `total` bytes (`Ok(None)`: the whole blob).
#[allow(clippy::result_unit_err)]
pub fn range(header: &str, total: u64) -> Result<Option<(u64, u64)>, ()> {
    crate::service::oci::resolve_range(header, total)
}

/// An upload chunk's `Content-Range`.
pub fn content_range(header: &str) -> Option<(u64, u64)> {
    crate::api::parse_content_range(header)
}

/// A digest as a client writes it (`sha256:…`), and its canonical form.
pub fn digest(text: &str) -> Option<String> {
    crate::digest::Digest::parse(text)
        .ok()
        .map(|d| d.to_string())
}

/// A warg publish request's record, as the publish handler decodes it, then as the log
/// validates it for a new package: an error message for anything it refuses.
pub fn record_envelope(json: &[u8]) -> Result<(), String> {
    let body: ProtoEnvelopeBody = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let envelope: ProtoEnvelope<package::PackageRecord> =
        body.try_into().map_err(|e: anyhow::Error| e.to_string())?;
    // What the store keeps reads back as the same record.
    let stored = envelope.to_protobuf();
    let again = ProtoEnvelope::<package::PackageRecord>::from_protobuf(&stored)
        .map_err(|e| format!("a decoded record does not read back: {e}"))?;
    assert_eq!(again.content_bytes(), envelope.content_bytes());
    assert_eq!(
        again.signature().to_string(),
        envelope.signature().to_string()
    );
    package::LogState::default()
        .validate(&envelope)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A stored record's bytes, as the server reads its log back at start.
pub fn stored_record(bytes: &[u8]) -> Result<(), String> {
    ProtoEnvelope::<package::PackageRecord>::from_protobuf(bytes)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;
    use warg_crypto::{hash::HashAlgorithm, signing::generate_p256_pair};
    use warg_protocol::package::{PackageEntry, PackageRecord};

    /// A package's first record as warg-client sends it, and the same record signed by a key
    /// that the log does not know.
    fn records() -> Vec<(&'static str, Vec<u8>)> {
        let (_, key) = generate_p256_pair();
        let (_, stranger) = generate_p256_pair();
        let content = "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
            .parse()
            .unwrap();
        let record = PackageRecord {
            prev: None,
            version: 0,
            timestamp: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
            entries: vec![
                PackageEntry::Init {
                    hash_algorithm: HashAlgorithm::Sha256,
                    key: key.public_key(),
                },
                PackageEntry::Release {
                    version: "1.0.0".parse().unwrap(),
                    content,
                },
            ],
        };
        let json = |signer| {
            let body: ProtoEnvelopeBody = ProtoEnvelope::signed_contents(signer, record.clone())
                .unwrap()
                .into();
            serde_json::to_vec(&body).unwrap()
        };
        vec![
            ("first-record", json(&key)),
            ("stranger-signed", json(&stranger)),
        ]
    }

    /// The fuzz target's entry accepts what a real client sends and refuses a stranger's
    /// signature; with `FUZZ_SEEDS_OUT=DIR` the records are written to DIR/envelope/, which is
    /// how the kept cases were made.
    #[test]
    fn real_records_pass_and_a_strangers_signature_does_not() {
        let all = records();
        assert_eq!(record_envelope(&all[0].1), Ok(()));
        let refused = record_envelope(&all[1].1).unwrap_err();
        assert!(refused.contains("sign"), "{refused}");
        if let Some(out) = std::env::var_os("FUZZ_SEEDS_OUT") {
            let dir = std::path::Path::new(&out).join("envelope");
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in &all {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
}
