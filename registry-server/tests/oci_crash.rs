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

/// Pushes blob + config + manifest under fresh tags until the server dies.
async fn pusher(url: String, token: String, worker: u32, round: u32, acked: Acked) {
    let http = reqwest::Client::new();
    for i in 0.. {
        let tag = format!("r{round}-w{worker}-{i}");
        let layer: Vec<u8> = format!("{tag}-").repeat(20_000).into_bytes();
        let ld = sha256(&layer);
        let repo = "generic/crash";
        let Ok(res) = http
            .post(format!("{url}/v2/{repo}/blobs/uploads/"))
            .bearer_auth(&token)
            .send()
            .await
        else {
            return;
        };
        let Some(loc) = res
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_string)
        else {
            return;
        };
        // Two chunks, then the close.
        let half = layer.len() / 2;
        for (start, part) in [(0, &layer[..half]), (half, &layer[half..])] {
            let end = start + part.len() - 1;
            if http
                .patch(format!("{url}{loc}"))
                .bearer_auth(&token)
                .header("content-range", format!("{start}-{end}"))
                .body(part.to_vec())
                .send()
                .await
                .is_err()
            {
                return;
            }
        }
        match http
            .put(format!("{url}{loc}?digest={ld}"))
            .bearer_auth(&token)
            .send()
            .await
        {
            Ok(r) if r.status() == 201 => {}
            _ => return,
        }
        let config = b"{}".to_vec();
        let cd = sha256(&config);
        match http
            .post(format!("{url}/v2/{repo}/blobs/uploads/?digest={cd}"))
            .bearer_auth(&token)
            .body(config)
            .send()
            .await
        {
            Ok(r) if r.status() == 201 => {}
            _ => return,
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}],
        })
        .to_string();
        let md = sha256(manifest.as_bytes());
        match http
            .put(format!("{url}/v2/{repo}/manifests/{tag}"))
            .bearer_auth(&token)
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest)
            .send()
            .await
        {
            Ok(r) if r.status() == 201 => {
                acked.lock().unwrap().insert(tag, md);
            }
            _ => return,
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
    let http = reqwest::Client::new();
    for round in 0..8u32 {
        let server = spawn_server(&data, "127.0.0.1:0", &[]).unwrap();
        let url = server.url.trim_end_matches('/').to_string();
        let tasks: Vec<_> = (0..3)
            .map(|w| tokio::spawn(pusher(url.clone(), token.clone(), w, round, acked.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(150 + 70 * round as u64)).await;
        drop(server); // SIGKILL, then reaped
        for t in tasks {
            t.await.unwrap();
        }
    }
    let server = spawn_server(&data, "127.0.0.1:0", &[]).unwrap();
    let url = server.url.trim_end_matches('/').to_string();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 8,
        "too few pushes were acknowledged: {}",
        acked.len()
    );
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
