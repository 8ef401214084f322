//! Raw warg requests, for tests that drive the HTTP API step by step instead of through a
//! client: a signed first record, and the paths and bodies of a publish.

use serde_json::{json, Value};
use std::time::SystemTime;
use warg_crypto::{
    hash::{AnyHash, HashAlgorithm, Sha256},
    signing::PrivateKey,
};
use warg_protocol::{
    package::{PackageEntry, PackageRecord},
    registry::LogId,
    ProtoEnvelope, ProtoEnvelopeBody,
};

pub fn digest_of(bytes: &[u8]) -> AnyHash {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
        .parse()
        .unwrap()
}

/// A package's first record, signed by `signer`, that inits the log with `init_key` and
/// releases 1.0.0 as `content`.
pub fn record(signer: &PrivateKey, init_key: &PrivateKey, content: &AnyHash) -> Value {
    let rec = PackageRecord {
        prev: None,
        version: 0,
        timestamp: SystemTime::now(),
        entries: vec![
            PackageEntry::Init {
                hash_algorithm: HashAlgorithm::Sha256,
                key: init_key.public_key(),
            },
            PackageEntry::Release {
                version: "1.0.0".parse().unwrap(),
                content: content.clone(),
            },
        ],
    };
    let body: ProtoEnvelopeBody = ProtoEnvelope::signed_contents(signer, rec).unwrap().into();
    serde_json::to_value(body).unwrap()
}

pub fn log_id(name: &str) -> LogId {
    LogId::package_log::<Sha256>(&super::name(name))
}

/// The upload URL of the first missing content of a `sourcing` answer.
pub fn upload_url(body: &Value) -> String {
    let missing = body["missingContent"].as_object().unwrap();
    missing.values().next().unwrap()["upload"][0]["url"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn publish_path(name: &str) -> String {
    format!("v1/package/{}/record", log_id(name))
}

pub fn publish_body(name: &str, rec: Value) -> Value {
    json!({ "packageName": name, "record": rec })
}

/// Polls the record's status until it is `published` (or 4 s pass); the last status.
pub async fn published_status(
    http: &reqwest::Client,
    url: &str,
    name: &str,
    record_id: &str,
) -> Value {
    let status_url = format!("{url}v1/package/{}/record/{record_id}", log_id(name));
    let mut state = Value::Null;
    for _ in 0..200 {
        state = http
            .get(&status_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if state["state"] == "published" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    state
}
