//! Hostile and broken requests: each gets a JSON 4xx with the documented shape, nothing is
//! stored, and the server keeps serving.

mod common;

use common::*;
use reqwest::{Client, Response, StatusCode};
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

fn digest_of(bytes: &[u8]) -> AnyHash {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
        .parse()
        .unwrap()
}

fn record(signer: &PrivateKey, init_key: &PrivateKey, content: &AnyHash) -> Value {
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

fn log_id(name: &str) -> LogId {
    LogId::package_log::<Sha256>(&common::name(name))
}

/// Asserts the status, the exact JSON content type and the `status` field; returns the body.
async fn expect(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status, "{:?}", res.url().path());
    assert_eq!(
        res.headers()["content-type"],
        "application/json",
        "{}",
        res.url()
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16(), "{body}");
    body
}

struct Api {
    http: Client,
    url: String,
    token: String,
}

impl Api {
    async fn publish(
        &self,
        path_name: &str,
        name: &str,
        rec: Value,
        token: Option<&str>,
    ) -> Response {
        let mut req = self
            .http
            .post(format!(
                "{}v1/package/{}/record",
                self.url,
                log_id(path_name)
            ))
            .json(&json!({ "packageName": name, "record": rec }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    async fn post_json(&self, path: &str, body: Value) -> Response {
        self.http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_json_errors_and_stores_nothing() {
    let dir = init_registry(&["example", "other"]);
    let token = create_token(&dir, "example");
    let other_token = create_token(&dir, "other");
    let mut config = load_config(&dir, "127.0.0.1:0", false);
    config.max_content_bytes = 4096;
    let server = wtool_registry::server::RunningServer::start(config)
        .await
        .unwrap();
    let api = Api {
        http: Client::new(),
        url: server.public_url.to_string(),
        token,
    };
    let checkpoint_before: Value = api
        .http
        .get(format!("{}v1/fetch/checkpoint", api.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = new_key();
    let wasm = component(1);
    let digest = digest_of(&wasm);

    // A bad signature: signed by one key, claiming another as the init key.
    let res = api
        .publish(
            "example:a",
            "example:a",
            record(&new_key(), &key, &digest),
            Some(&api.token),
        )
        .await;
    let body = expect(res, StatusCode::UNAUTHORIZED).await;
    assert!(
        body["message"].as_str().unwrap().contains("signature"),
        "{body}"
    );

    // A record for the wrong log id.
    let res = api
        .publish(
            "example:b",
            "example:a",
            record(&key, &key, &digest),
            Some(&api.token),
        )
        .await;
    expect(res, StatusCode::BAD_REQUEST).await;

    // An unknown namespace.
    let res = api
        .publish(
            "nope:a",
            "nope:a",
            record(&key, &key, &digest),
            Some(&api.token),
        )
        .await;
    let body = expect(res, StatusCode::NOT_FOUND).await;
    assert_eq!(
        body,
        json!({"status": 404, "type": "namespace", "id": "nope"})
    );

    // Missing, wrong and wrong-namespace tokens.
    for token in [
        None,
        Some("wtr_nope_nope"),
        Some("garbage"),
        Some(other_token.as_str()),
    ] {
        let res = api
            .publish("example:a", "example:a", record(&key, &key, &digest), token)
            .await;
        expect(res, StatusCode::UNAUTHORIZED).await;
    }

    // Uppercase and path-traversal names never get past the edge.
    for bad in ["Example:a", "example:../../etc", "example:A"] {
        let res = api
            .http
            .post(format!(
                "{}v1/package/{}/record",
                api.url,
                log_id("example:a")
            ))
            .json(&json!({ "packageName": bad, "record": record(&key, &key, &digest) }))
            .send()
            .await
            .unwrap();
        expect(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }

    // Malformed JSON, wrong content type, unknown fields.
    let res = api
        .http
        .post(format!("{}v1/fetch/logs", api.url))
        .header("content-type", "application/json")
        .body("{\"logLength\": ")
        .send()
        .await
        .unwrap();
    expect(res, StatusCode::BAD_REQUEST).await;
    let res = api
        .http
        .post(format!("{}v1/fetch/logs", api.url))
        .body("{}")
        .send()
        .await
        .unwrap();
    expect(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let res = api
        .post_json("v1/fetch/logs", json!({"logLength": 1, "bogus": 1}))
        .await;
    expect(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    // An oversized JSON body.
    // Just over the 1 MiB limit: small enough that loopback buffers take the whole body, so
    // the client reads the 413 instead of racing a connection reset.
    let huge = "x".repeat(1024 * 1024 + 16 * 1024);
    let res = api
        .post_json("v1/fetch/logs", json!({"logLength": 1, "operator": huge}))
        .await;
    expect(res, StatusCode::PAYLOAD_TOO_LARGE).await;

    // Stale and garbage fetch tokens, unknown lengths and logs: the exact warg shapes.
    let stale = format!("sha256:{}", "ab".repeat(32));
    let res = api
        .post_json("v1/fetch/logs", json!({"logLength": 1, "operator": stale}))
        .await;
    let body = expect(res, StatusCode::NOT_FOUND).await;
    assert_eq!(
        body,
        json!({"status": 404, "type": "fetchToken", "id": stale})
    );
    let res = api
        .post_json(
            "v1/fetch/logs",
            json!({"logLength": 1, "operator": "garbage"}),
        )
        .await;
    let body = expect(res, StatusCode::NOT_FOUND).await;
    assert_eq!(
        body,
        json!({"status": 404, "type": "fetchToken", "id": "garbage"})
    );
    let res = api
        .post_json("v1/fetch/logs", json!({"logLength": 99}))
        .await;
    let body = expect(res, StatusCode::NOT_FOUND).await;
    assert_eq!(body, json!({"status": 404, "type": "logLength", "id": 99}));
    let unknown = log_id("example:unknown").to_string();
    let res = api
        .post_json(
            "v1/fetch/logs",
            json!({"logLength": 1, "packages": {unknown.clone(): null}}),
        )
        .await;
    let body = expect(res, StatusCode::NOT_FOUND).await;
    assert_eq!(body, json!({"status": 404, "type": "log", "id": unknown}));
    let res = api
        .post_json("v1/fetch/logs", json!({"logLength": 1, "limit": 0}))
        .await;
    expect(res, StatusCode::BAD_REQUEST).await;
    let res = api
        .post_json("v1/proof/inclusion", json!({"logLength": 1, "leafs": [5]}))
        .await;
    expect(res, StatusCode::NOT_FOUND).await;
    let res = api
        .post_json("v1/proof/consistency", json!({"from": 1, "to": 7}))
        .await;
    expect(res, StatusCode::NOT_FOUND).await;

    // Uploads: to a URL the server never issued, then a digest mismatch, garbage content and
    // an oversized blob on URLs it did issue.
    let res = api
        .http
        .post(format!("{}v1/upload/{}", api.url, "0".repeat(48)))
        .body(wasm.clone())
        .send()
        .await
        .unwrap();
    expect(res, StatusCode::NOT_FOUND).await;
    let res = api
        .http
        .post(format!(
            "{}v1/package/{}/record/x/content/y",
            api.url,
            log_id("example:a")
        ))
        .body(wasm.clone())
        .send()
        .await
        .unwrap();
    expect(res, StatusCode::NOT_FOUND).await;

    let upload_url = |body: &Value| -> String {
        let missing = body["missingContent"].as_object().unwrap();
        missing.values().next().unwrap()["upload"][0]["url"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let res = api
        .publish(
            "example:a",
            "example:a",
            record(&key, &key, &digest),
            Some(&api.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["state"], "sourcing", "{body}");
    let url = upload_url(&body);
    let res = api.http.post(&url).body(component(2)).send().await.unwrap();
    let err = expect(res, StatusCode::BAD_REQUEST).await;
    assert!(
        err["message"].as_str().unwrap().contains("does not match"),
        "{err}"
    );

    let garbage = b"definitely not wasm".to_vec();
    let key2 = new_key();
    let res = api
        .publish(
            "example:g",
            "example:g",
            record(&key2, &key2, &digest_of(&garbage)),
            Some(&api.token),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    let res = api
        .http
        .post(upload_url(&body))
        .body(garbage)
        .send()
        .await
        .unwrap();
    let err = expect(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("not valid WebAssembly"),
        "{err}"
    );
    let status: Value = api
        .http
        .get(format!(
            "{}v1/package/{}/record/{}",
            api.url,
            log_id("example:g"),
            body["recordId"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "rejected", "{status}");

    let core_module = wat::parse_str("(module)").unwrap();
    let key3 = new_key();
    let res = api
        .publish(
            "example:m",
            "example:m",
            record(&key3, &key3, &digest_of(&core_module)),
            Some(&api.token),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    let res = api
        .http
        .post(upload_url(&body))
        .body(core_module)
        .send()
        .await
        .unwrap();
    let err = expect(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("core WebAssembly module"),
        "{err}"
    );

    let big = vec![0u8; 10_000];
    let key4 = new_key();
    let res = api
        .publish(
            "example:big",
            "example:big",
            record(&key4, &key4, &digest_of(&big)),
            Some(&api.token),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    let res = api
        .http
        .post(upload_url(&body))
        .body(big)
        .send()
        .await
        .unwrap();
    expect(res, StatusCode::PAYLOAD_TOO_LARGE).await;

    // Bad digests and names on read paths.
    for path in [
        format!("v1/content/sha256:{}", "AB".repeat(32)),
        "v1/content/sha256:1234".to_string(),
        "v1/content/..%2F..%2Fetc%2Fpasswd".to_string(),
    ] {
        let res = api
            .http
            .get(format!("{}{path}", api.url))
            .send()
            .await
            .unwrap();
        expect(res, StatusCode::BAD_REQUEST).await;
    }
    for path in ["content/..%2F..%2Fregistry.db", "content/sha256-zz", "nope"] {
        let res = api
            .http
            .get(format!("{}{path}", api.url))
            .send()
            .await
            .unwrap();
        expect(res, StatusCode::NOT_FOUND).await;
    }
    let res = api
        .http
        .get(format!("{}v1/content/{}", api.url, digest))
        .send()
        .await
        .unwrap();
    let body = expect(res, StatusCode::NOT_FOUND).await;
    assert_eq!(body["type"], "contentDigest");
    let res = api
        .http
        .delete(format!("{}v1/fetch/checkpoint", api.url))
        .send()
        .await
        .unwrap();
    expect(res, StatusCode::METHOD_NOT_ALLOWED).await;

    // Nothing was stored and the server is still up.
    let checkpoint_after: Value = api
        .http
        .get(format!("{}v1/fetch/checkpoint", api.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(checkpoint_before, checkpoint_after);
    let blobs = data_dir(&dir).join("blobs");
    assert_eq!(std::fs::read_dir(blobs.join("sha256")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(blobs.join("tmp")).unwrap().count(), 0);
    let health = api
        .http
        .get(format!("{}healthz", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_uploads_are_validated_from_the_stored_file() {
    let dir = init_registry(&["example"]);
    let token = create_token(&dir, "example");
    let server = start(&dir, "127.0.0.1:0").await;
    let url = server.public_url.to_string();
    let api = Api {
        http: Client::new(),
        url: url.clone(),
        token,
    };

    // A valid 20 MB component is published and downloads byte for byte.
    let cache = tempfile::tempdir().unwrap();
    let client = client(&url, cache.path(), Some(&api.token));
    let big = sized_component(20 << 20, 3);
    let pkg = name("example:big");
    release(&client, &new_key(), &pkg, "1.0.0", big.clone(), true)
        .await
        .unwrap();
    let downloaded = api
        .http
        .get(format!(
            "{url}content/sha256-{}",
            hex::encode(digest_of(&big).bytes())
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(downloaded == big, "downloaded bytes differ");

    // Large content that is invalid in front of its payload, or garbage after a valid header,
    // is refused with the reason, and the record is rejected.
    let mut garbage = b"\0asm\x0d\0\x01\0".to_vec();
    garbage.extend((0..(8 << 20)).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    for (pkg, bytes, reason) in [
        (
            "example:nomem",
            invalid_sized_component(20 << 20),
            "unknown memory",
        ),
        ("example:junk", garbage, "not valid WebAssembly"),
    ] {
        let key = new_key();
        let res = api
            .publish(
                pkg,
                pkg,
                record(&key, &key, &digest_of(&bytes)),
                Some(&api.token),
            )
            .await;
        let body: Value = res.json().await.unwrap();
        let upload = body["missingContent"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["upload"][0]["url"]
            .as_str()
            .unwrap()
            .to_string();
        let res = api.http.post(&upload).body(bytes).send().await.unwrap();
        let err = expect(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        let message = err["message"].as_str().unwrap();
        assert!(message.contains(reason), "{pkg}: {err}");
        let status: Value = api
            .http
            .get(format!(
                "{}v1/package/{}/record/{}",
                url,
                log_id(pkg),
                body["recordId"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["state"], "rejected", "{status}");
    }
    // Only the valid blob is stored; no temp files are left behind.
    let blobs = data_dir(&dir).join("blobs");
    assert_eq!(std::fs::read_dir(blobs.join("sha256")).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(blobs.join("tmp")).unwrap().count(), 0);
    server.shutdown().await.unwrap();
}
