//! Hostile and broken requests: each gets a JSON 4xx with the documented shape, nothing is
//! stored, and the server keeps serving.

mod common;

use common::raw::*;
use common::*;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

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

/// An embedded store's uploads pass through `blobs/tmp/`; none may be left there. (Object
/// storage has no such directory: an unfinished upload is never visible.)
fn assert_no_temp_files(dir: &DataDir) {
    if let wtool_testkit::registry::StoreOf::Embedded(data) = dir.store() {
        assert_eq!(
            std::fs::read_dir(data.join("blobs/tmp")).unwrap().count(),
            0
        );
    }
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
            .post(format!("{}{}", self.url, publish_path(path_name)))
            .json(&publish_body(name, rec));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// Publishes a new package whose one release is `bytes`, uploads `bytes` to the URL the
    /// server issued, and checks that the upload is refused with `status` and `reason` and that
    /// the record is rejected.
    async fn upload_is_refused(&self, pkg: &str, bytes: Vec<u8>, status: StatusCode, reason: &str) {
        let key = new_key();
        let rec = record(&key, &key, &digest_of(&bytes));
        let res = self.publish(pkg, pkg, rec, Some(&self.token)).await;
        let body: Value = res.json().await.unwrap();
        let res = self
            .http
            .post(upload_url(&body))
            .body(bytes)
            .send()
            .await
            .unwrap();
        let err = expect(res, status).await;
        let message = err["message"].as_str().unwrap();
        assert!(message.contains(reason), "{pkg}: {err}");
        let state: Value = self
            .http
            .get(format!(
                "{}v1/package/{}/record/{}",
                self.url,
                log_id(pkg),
                body["recordId"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(state["state"], "rejected", "{pkg}: {state}");
    }
}

/// What a case sends.
enum Request {
    Get,
    Delete,
    /// A JSON body with its content type.
    Json(Value),
    /// Raw text declared as JSON.
    JsonText(&'static str),
    /// A body with no content type.
    Untyped(Vec<u8>),
    /// A publish request body, with an optional bearer token.
    Publish(Value, Option<String>),
}

/// What a case expects beyond the status, the content type and the `status` field.
enum Expect {
    Nothing,
    Body(Value),
    MessageHas(&'static str),
    Field(&'static str, &'static str),
}

/// One bad request and the answer it must get.
struct Case {
    what: &'static str,
    path: String,
    request: Request,
    status: StatusCode,
    expect: Expect,
}

impl Case {
    fn new(
        what: &'static str,
        path: impl Into<String>,
        request: Request,
        status: StatusCode,
    ) -> Self {
        Self {
            what,
            path: path.into(),
            request,
            status,
            expect: Expect::Nothing,
        }
    }

    fn expect(self, expect: Expect) -> Self {
        Self { expect, ..self }
    }

    async fn run(self, api: &Api) {
        let url = format!("{}{}", api.url, self.path);
        let req = match self.request {
            Request::Get => api.http.get(url),
            Request::Delete => api.http.delete(url),
            Request::Json(body) => api.http.post(url).json(&body),
            Request::JsonText(text) => api
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(text),
            Request::Untyped(bytes) => api.http.post(url).body(bytes),
            Request::Publish(body, token) => {
                let req = api.http.post(url).json(&body);
                match token {
                    Some(t) => req.bearer_auth(t),
                    None => req,
                }
            }
        };
        let res = req.send().await.unwrap();
        let what = self.what;
        let body = expect(res, self.status).await;
        match self.expect {
            Expect::Nothing => {}
            Expect::Body(expected) => assert_eq!(body, expected, "{what}"),
            Expect::MessageHas(part) => assert!(
                body["message"].as_str().unwrap().contains(part),
                "{what}: {body}"
            ),
            Expect::Field(field, value) => assert_eq!(body[field], value, "{what}: {body}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_json_errors_and_stores_nothing() {
    use StatusCode as S;
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
    let good = || record(&key, &key, &digest);
    let with_token = |body: Value| Request::Publish(body, Some(api.token.clone()));
    let stale = format!("sha256:{}", "ab".repeat(32));
    let unknown = log_id("example:unknown").to_string();
    // Just over the 1 MiB limit: small enough that loopback buffers take the whole body, so
    // the client reads the 413 instead of racing a connection reset.
    let huge = "x".repeat(1024 * 1024 + 16 * 1024);

    let mut cases = vec![
        Case::new(
            "signed by one key, claiming another as the init key",
            publish_path("example:a"),
            with_token(publish_body("example:a", record(&new_key(), &key, &digest))),
            S::UNAUTHORIZED,
        )
        .expect(Expect::MessageHas("signature")),
        Case::new(
            "a record for the wrong log id",
            publish_path("example:b"),
            with_token(publish_body("example:a", good())),
            S::BAD_REQUEST,
        ),
        Case::new(
            "an unknown namespace",
            publish_path("nope:a"),
            with_token(publish_body("nope:a", good())),
            S::NOT_FOUND,
        )
        .expect(Expect::Body(
            json!({"status": 404, "type": "namespace", "id": "nope"}),
        )),
        Case::new(
            "malformed JSON",
            "v1/fetch/logs",
            Request::JsonText("{\"logLength\": "),
            S::BAD_REQUEST,
        ),
        Case::new(
            "no JSON content type",
            "v1/fetch/logs",
            Request::Untyped(b"{}".to_vec()),
            S::UNSUPPORTED_MEDIA_TYPE,
        ),
        Case::new(
            "an unknown field",
            "v1/fetch/logs",
            Request::Json(json!({"logLength": 1, "bogus": 1})),
            S::UNPROCESSABLE_ENTITY,
        ),
        Case::new(
            "an oversized JSON body",
            "v1/fetch/logs",
            Request::Json(json!({"logLength": 1, "operator": huge})),
            S::PAYLOAD_TOO_LARGE,
        ),
        Case::new(
            "a stale fetch token",
            "v1/fetch/logs",
            Request::Json(json!({"logLength": 1, "operator": stale})),
            S::NOT_FOUND,
        )
        .expect(Expect::Body(
            json!({"status": 404, "type": "fetchToken", "id": stale}),
        )),
        Case::new(
            "a garbage fetch token",
            "v1/fetch/logs",
            Request::Json(json!({"logLength": 1, "operator": "garbage"})),
            S::NOT_FOUND,
        )
        .expect(Expect::Body(
            json!({"status": 404, "type": "fetchToken", "id": "garbage"}),
        )),
        Case::new(
            "an unknown log length",
            "v1/fetch/logs",
            Request::Json(json!({"logLength": 99})),
            S::NOT_FOUND,
        )
        .expect(Expect::Body(
            json!({"status": 404, "type": "logLength", "id": 99}),
        )),
        Case::new(
            "an unknown log",
            "v1/fetch/logs",
            Request::Json(json!({"logLength": 1, "packages": {unknown.clone(): null}})),
            S::NOT_FOUND,
        )
        .expect(Expect::Body(
            json!({"status": 404, "type": "log", "id": unknown}),
        )),
        Case::new(
            "a zero limit",
            "v1/fetch/logs",
            Request::Json(json!({"logLength": 1, "limit": 0})),
            S::BAD_REQUEST,
        ),
        Case::new(
            "an inclusion proof for a leaf past the checkpoint",
            "v1/proof/inclusion",
            Request::Json(json!({"logLength": 1, "leafs": [5]})),
            S::NOT_FOUND,
        ),
        Case::new(
            "a consistency proof to an unknown length",
            "v1/proof/consistency",
            Request::Json(json!({"from": 1, "to": 7})),
            S::NOT_FOUND,
        ),
        Case::new(
            "an upload to a URL the server never issued",
            format!("v1/upload/{}", "0".repeat(48)),
            Request::Untyped(wasm.clone()),
            S::NOT_FOUND,
        ),
        Case::new(
            "an upload to warg-server's content path",
            format!("v1/package/{}/record/x/content/y", log_id("example:a")),
            Request::Untyped(wasm.clone()),
            S::NOT_FOUND,
        ),
        Case::new(
            "a content digest that is not found",
            format!("v1/content/{digest}"),
            Request::Get,
            S::NOT_FOUND,
        )
        .expect(Expect::Field("type", "contentDigest")),
        Case::new(
            "a method the route does not have",
            "v1/fetch/checkpoint",
            Request::Delete,
            S::METHOD_NOT_ALLOWED,
        ),
    ];
    // Missing, unknown, malformed and wrong-namespace tokens.
    for token in [
        None,
        Some("wtr_nope_nope".to_string()),
        Some("garbage".to_string()),
        Some(other_token.clone()),
    ] {
        cases.push(Case::new(
            "a publish without a token for the namespace",
            publish_path("example:a"),
            Request::Publish(publish_body("example:a", good()), token),
            S::UNAUTHORIZED,
        ));
    }
    // Uppercase and path-traversal names never get past the edge.
    for bad in ["Example:a", "example:../../etc", "example:A"] {
        cases.push(Case::new(
            "an invalid package name",
            publish_path("example:a"),
            with_token(publish_body(bad, good())),
            S::UNPROCESSABLE_ENTITY,
        ));
    }
    // Bad digests and names on read paths.
    for path in [
        format!("v1/content/sha256:{}", "AB".repeat(32)),
        "v1/content/sha256:1234".to_string(),
        "v1/content/..%2F..%2Fetc%2Fpasswd".to_string(),
    ] {
        cases.push(Case::new(
            "an invalid content digest",
            path,
            Request::Get,
            S::BAD_REQUEST,
        ));
    }
    for path in ["content/..%2F..%2Fregistry.db", "content/sha256-zz", "nope"] {
        cases.push(Case::new(
            "a path that names nothing",
            path,
            Request::Get,
            S::NOT_FOUND,
        ));
    }
    for case in cases {
        case.run(&api).await;
    }

    // Uploads on URLs the server did issue: a digest mismatch leaves the record sourcing;
    // garbage, a core module and an oversized blob are refused by policy and reject it.
    let res = api
        .publish("example:a", "example:a", good(), Some(&api.token))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["state"], "sourcing", "{body}");
    let res = api
        .http
        .post(upload_url(&body))
        .body(component(2))
        .send()
        .await
        .unwrap();
    let err = expect(res, StatusCode::BAD_REQUEST).await;
    assert!(
        err["message"].as_str().unwrap().contains("does not match"),
        "{err}"
    );

    for (pkg, bytes, status, reason) in [
        (
            "example:g",
            b"definitely not wasm".to_vec(),
            S::UNPROCESSABLE_ENTITY,
            "not valid WebAssembly",
        ),
        (
            "example:m",
            wat::parse_str("(module)").unwrap(),
            S::UNPROCESSABLE_ENTITY,
            "core WebAssembly module",
        ),
        (
            "example:big",
            vec![0u8; 10_000],
            S::PAYLOAD_TOO_LARGE,
            "larger than the limit",
        ),
    ] {
        api.upload_is_refused(pkg, bytes, status, reason).await;
    }

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
    assert_eq!(dir.stored_blobs().len(), 0);
    assert_no_temp_files(&dir);
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
        api.upload_is_refused(pkg, bytes, StatusCode::UNPROCESSABLE_ENTITY, reason)
            .await;
    }
    // Only the valid blob is stored; no temp files are left behind.
    assert_eq!(dir.stored_blobs().len(), 1);
    assert_no_temp_files(&dir);
    server.shutdown().await.unwrap();
}
