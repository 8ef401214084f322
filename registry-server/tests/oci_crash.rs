//! `kill -9` during OCI uploads and manifest pushes, many times over: everything the server
//! acknowledged is there afterwards, every tag resolves, and no stored blob is partial.

mod common;

use common::*;
use sha2::{Digest as _, Sha256};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

type Acked = Arc<Mutex<BTreeMap<String, String>>>;
/// What the server answered, other than success, while it was still up.
type Refusals = Arc<Mutex<Vec<String>>>;

/// What ended one push attempt.
enum Stop {
    /// The connection failed: the server is gone.
    Gone,
    /// The server answered something other than success; the attempt is retried.
    Refused(String),
}

async fn expect(
    res: reqwest::Result<reqwest::Response>,
    step: &str,
) -> Result<reqwest::Response, Stop> {
    match res {
        Err(_) => Err(Stop::Gone),
        Ok(r) if r.status().is_success() => Ok(r),
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            Err(Stop::Refused(format!("{step}: {status} {body}")))
        }
    }
}

/// One blob (in two chunks), a config and a manifest under `tag`; the manifest's digest.
async fn push(http: &reqwest::Client, url: &str, token: &str, tag: &str) -> Result<String, Stop> {
    let repo = "generic/crash";
    let layer: Vec<u8> = format!("{tag}-").repeat(20_000).into_bytes();
    let ld = sha256(&layer);
    let res = http
        .post(format!("{url}/v2/{repo}/blobs/uploads/"))
        .bearer_auth(token)
        .send()
        .await;
    let res = expect(res, "open upload").await?;
    let loc = res
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| Stop::Refused("open upload: no location".into()))?;
    let half = layer.len() / 2;
    for (start, part) in [(0, &layer[..half]), (half, &layer[half..])] {
        let end = start + part.len() - 1;
        let res = http
            .patch(format!("{url}{loc}"))
            .bearer_auth(token)
            .header("content-range", format!("{start}-{end}"))
            .body(part.to_vec())
            .send()
            .await;
        expect(res, "chunk").await?;
    }
    let res = http
        .put(format!("{url}{loc}?digest={ld}"))
        .bearer_auth(token)
        .send()
        .await;
    expect(res, "close upload").await?;
    let config = b"{}".to_vec();
    let cd = sha256(&config);
    let res = http
        .post(format!("{url}/v2/{repo}/blobs/uploads/?digest={cd}"))
        .bearer_auth(token)
        .body(config)
        .send()
        .await;
    expect(res, "monolithic config").await?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}],
    })
    .to_string();
    let md = sha256(manifest.as_bytes());
    let res = http
        .put(format!("{url}/v2/{repo}/manifests/{tag}"))
        .bearer_auth(token)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest)
        .send()
        .await;
    let res = expect(res, "manifest").await?;
    if res.status() != 201 {
        return Err(Stop::Refused(format!(
            "manifest: {} instead of 201",
            res.status()
        )));
    }
    Ok(md)
}

/// Pushes under fresh tags until the server dies; a refusal is noted and the push tried again.
async fn pusher(
    url: String,
    token: String,
    worker: u32,
    round: u32,
    acked: Acked,
    refused: Refusals,
) {
    let http = reqwest::Client::new();
    for i in 0.. {
        let tag = format!("r{round}-w{worker}-{i}");
        match push(&http, &url, &token, &tag).await {
            Ok(digest) => {
                acked.lock().unwrap().insert(tag, digest);
            }
            Err(Stop::Gone) => return,
            Err(Stop::Refused(why)) => {
                refused.lock().unwrap().push(format!("{tag}: {why}"));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_oci_pushes_loses_nothing_acknowledged() {
    let data = init_registry(&["ns", "generic"]);
    data.edit_config(
        "generic_namespaces = []",
        "generic_namespaces = [\"generic\"]",
    );
    let token = data.token(&["generic"]);
    let acked: Acked = Arc::default();
    let refused: Refusals = Arc::default();
    let http = reqwest::Client::new();
    for round in 0..8u32 {
        let server = spawn_server(&data, "127.0.0.1:0", &[]).unwrap();
        let url = server.url.trim_end_matches('/').to_string();
        let before = acked.lock().unwrap().len();
        let tasks: Vec<_> = (0..3)
            .map(|w| {
                tokio::spawn(pusher(
                    url.clone(),
                    token.clone(),
                    w,
                    round,
                    acked.clone(),
                    refused.clone(),
                ))
            })
            .collect();
        // The kill lands once this round has made progress, so that a slow disk still sees
        // acknowledged pushes, and at a point that differs from round to round.
        let started = std::time::Instant::now();
        while acked.lock().unwrap().len() == before {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no push was acknowledged in 60 s of round {round}; the server refused: {:#?}",
                refused.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(13 + 41 * round as u64)).await;
        drop(server); // SIGKILL, then reaped
        for t in tasks {
            t.await.unwrap();
        }
    }
    let refused = refused.lock().unwrap().clone();
    assert!(
        refused.is_empty(),
        "the server refused pushes while up: {refused:#?}"
    );
    let server = spawn_server(&data, "127.0.0.1:0", &[]).unwrap();
    let url = server.url.trim_end_matches('/').to_string();
    let acked = acked.lock().unwrap().clone();
    let tags: serde_json::Value = http
        .get(format!("{url}/v2/generic/crash/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tags: Vec<String> = serde_json::from_value(tags["tags"].clone()).unwrap();
    for tag in acked.keys() {
        assert!(tags.contains(tag), "acknowledged tag {tag} is gone");
    }
    // Every tag resolves, to bytes with its digest, whose blobs are all there.
    for tag in &tags {
        let res = http
            .get(format!("{url}/v2/generic/crash/manifests/{tag}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "tag {tag} does not resolve");
        let digest = res.headers()["docker-content-digest"]
            .to_str()
            .unwrap()
            .to_string();
        let body = res.bytes().await.unwrap();
        assert_eq!(sha256(&body), digest);
        if let Some(expected) = acked.get(tag) {
            assert_eq!(&digest, expected);
        }
        let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let layer = m["layers"][0]["digest"].as_str().unwrap();
        let blob = http
            .get(format!("{url}/v2/generic/crash/blobs/{layer}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(sha256(&blob), layer);
    }
    // No stored blob is partial: each one's bytes have its name.
    for (name, bytes) in data.stored_blobs() {
        assert_eq!(sha256(&bytes), format!("sha256:{name}"));
    }
}
