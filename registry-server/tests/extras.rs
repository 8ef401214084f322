//! Endpoints the 0.10 client never calls but monitors and tools do: names, ledger, checkpoint
//! verification; and configuration through environment variables.

mod common;

use common::*;
use serde_json::{json, Value};
use sha2::Digest;
use warg_crypto::hash::Sha256;
use warg_protocol::registry::LogId;

async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_ledger_and_verify() {
    let dir = init_registry(&["example"]);
    let token = create_token(&dir, "example");
    let server = start(&dir, "127.0.0.1:0").await;
    let url = server.public_url.to_string();
    let cache = tempfile::tempdir().unwrap();
    let client = client(&url, cache.path(), Some(&token));
    let pkg = name("example:named");
    release(&client, &new_key(), &pkg, "1.0.0", component(1), true)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let log_id = LogId::package_log::<Sha256>(&pkg).to_string();

    let names: Value = http
        .post(format!("{url}v1/fetch/names"))
        .json(&json!({ "packages": [log_id.clone()] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        names,
        json!({ "packages": { log_id.clone(): "example:named" } })
    );

    let ledger: Value = get_json(&http, format!("{url}v1/ledger")).await;
    assert_eq!(ledger["hashAlgorithm"], "sha256");
    assert_eq!(ledger["sources"][0]["firstRegistryIndex"], 0);
    assert_eq!(ledger["sources"][0]["lastRegistryIndex"], 1);
    let packed = http
        .get(format!("{url}v1/ledger/records/0"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        packed.headers()["content-type"],
        "application/vnd.warg.ledger.packed"
    );
    let packed = packed.bytes().await.unwrap();
    assert_eq!(packed.len(), 2 * 64);
    assert_eq!(
        hex::encode(&packed[64..96]),
        log_id.strip_prefix("sha256:").unwrap()
    );

    let checkpoint: Value = get_json(&http, format!("{url}v1/fetch/checkpoint")).await;
    let verified: Value = http
        .post(format!("{url}v1/verify/checkpoint"))
        .json(&checkpoint)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        verified,
        json!({ "checkpoint": "verified", "signature": "verified" })
    );
    let mut forged = checkpoint.clone();
    forged["contents"]["logRoot"] = json!(format!("sha256:{}", "00".repeat(32)));
    let verdict: Value = http
        .post(format!("{url}v1/verify/checkpoint"))
        .json(&forged)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["checkpoint"], "invalid");
    assert_eq!(verdict["signature"], "invalid");
    server.shutdown().await.unwrap();
}

/// Environment variables override the config file: the server listens where
/// `WTOOL_REGISTRY_LISTEN` says, builds URLs from `WTOOL_REGISTRY_PUBLIC_URL`, accepts a publish
/// without a token, and applies `WTOOL_REGISTRY_MAX_CONTENT_BYTES` to uploads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_overrides_config() {
    let dir = init_registry(&["example"]);
    let data = data_dir(&dir);
    // A port that was free a moment ago: the server must be found there, not at the config
    // file's address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let public = "https://registry.example.test/base/";
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--data-dir", data.to_str().unwrap()])
        .env("WTOOL_REGISTRY_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "WTOOL_REGISTRY_PUBLIC_URL",
            "https://registry.example.test/base",
        )
        .env("WTOOL_REGISTRY_ALLOW_ANONYMOUS_PUBLISH", "true")
        .env("WTOOL_REGISTRY_MAX_CONTENT_BYTES", "100")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let server = Spawned {
        child,
        url: format!("http://127.0.0.1:{port}/"),
    };
    assert_eq!(line.trim(), format!("listening on {public}"));
    let http = reqwest::Client::new();

    let discovery: Value = get_json(
        &http,
        format!("{}.well-known/wasm-pkg/registry.json", server.url),
    )
    .await;
    assert_eq!(discovery["wargUrl"], json!(public));
    assert!(discovery.get("preferredProtocol").is_none());

    // A publish with no token is accepted, and its upload URL is under the public URL.
    let key = new_key();
    let pkg = name("example:env");
    let content = vec![7u8; 101];
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&content)));
    let record = warg_protocol::package::PackageRecord {
        prev: None,
        version: 0,
        timestamp: std::time::SystemTime::now(),
        entries: vec![
            warg_protocol::package::PackageEntry::Init {
                hash_algorithm: warg_crypto::hash::HashAlgorithm::Sha256,
                key: key.public_key(),
            },
            warg_protocol::package::PackageEntry::Release {
                version: "1.0.0".parse().unwrap(),
                content: digest.parse().unwrap(),
            },
        ],
    };
    let envelope: warg_protocol::ProtoEnvelopeBody =
        warg_protocol::ProtoEnvelope::signed_contents(&key, record)
            .unwrap()
            .into();
    let res = http
        .post(format!(
            "{}v1/package/{}/record",
            server.url,
            LogId::package_log::<Sha256>(&pkg)
        ))
        .json(&json!({ "packageName": pkg.to_string(), "record": envelope }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["state"], "sourcing", "{body}");
    let upload = body["missingContent"][&digest]["upload"][0]["url"]
        .as_str()
        .unwrap();
    let path = upload
        .strip_prefix(public)
        .unwrap_or_else(|| panic!("upload URL `{upload}` is not under {public}"));

    // 101 bytes are over the 100-byte limit from the environment.
    let res = http
        .post(format!("{}{path}", server.url))
        .body(content)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let err: Value = res.json().await.unwrap();
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("limit of 100 bytes"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_can_require_a_token() {
    let dir = init_registry(&["example"]);
    let token = create_token(&dir, "example");
    let mut config = load_config(&dir, "127.0.0.1:0", false);
    config.require_read_token = true;
    let server = wtool_registry::server::RunningServer::start(config)
        .await
        .unwrap();
    let url = server.public_url.to_string();
    let http = reqwest::Client::new();
    let anonymous = http
        .get(format!("{url}v1/fetch/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["content-type"], "application/json");
    // The real client with a token publishes and reads as usual.
    let cache = tempfile::tempdir().unwrap();
    let client = client(&url, cache.path(), Some(&token));
    let pkg = name("example:private");
    release(&client, &new_key(), &pkg, "1.0.0", component(1), true)
        .await
        .unwrap();
    let got = client
        .download(&pkg, &"*".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), component(1));
    server.shutdown().await.unwrap();
}

/// `fetch/logs` bodies are assembled from records serialised once; they must be byte for byte
/// what serialising warg-api's `FetchLogsResponse` gives, for every shape of answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_logs_bodies_are_canonical_warg_json() {
    use warg_api::v1::fetch::FetchLogsResponse;
    let dir = init_registry(&["example"]);
    let token = create_token(&dir, "example");
    let server = start(&dir, "127.0.0.1:0").await;
    let url = server.public_url.to_string();
    let cache = tempfile::tempdir().unwrap();
    let client = client(&url, cache.path(), Some(&token));
    let key = new_key();
    let (a, b) = (name("example:a"), name("example:b"));
    for (i, version) in ["1.0.0", "1.1.0", "1.2.0"].into_iter().enumerate() {
        release(&client, &key, &a, version, component(i as u32), i == 0)
            .await
            .unwrap();
    }
    release(&client, &key, &b, "0.1.0", component(9), true)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let checkpoint: Value = get_json(&http, format!("{url}v1/fetch/checkpoint")).await;
    let len = checkpoint["contents"]["logLength"].as_u64().unwrap();
    let (log_a, log_b) = (
        LogId::package_log::<Sha256>(&a).to_string(),
        LogId::package_log::<Sha256>(&b).to_string(),
    );
    let post = |body: Value| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let res = http
                .post(format!("{url}v1/fetch/logs"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{body}");
            assert_eq!(res.headers()["content-type"], "application/json");
            res.bytes().await.unwrap()
        }
    };
    let first_a: Value = serde_json::from_slice(
        &post(json!({"logLength": len, "packages": {log_a.clone(): null}})).await,
    )
    .unwrap();
    let token_a = first_a["packages"][&log_a][0]["fetchToken"]
        .as_str()
        .unwrap()
        .to_string();
    let requests = [
        // Everything: operator records and two packages.
        json!({"logLength": len, "packages": {log_a.clone(): null, log_b.clone(): null}}),
        // Paged: `more` is true.
        json!({"logLength": len, "limit": 1, "packages": {log_a.clone(): null}}),
        // From a fetch token, and with the operator log already known.
        json!({"logLength": len, "operator": first_a["operator"][0]["fetchToken"], "packages": {log_a.clone(): token_a}}),
        // An earlier checkpoint covers fewer records.
        json!({"logLength": 2, "packages": {log_a.clone(): null}}),
        // Nothing at all.
        json!({"logLength": len, "operator": first_a["operator"][0]["fetchToken"]}),
    ];
    let mut shapes = std::collections::HashSet::new();
    for request in requests {
        let body = post(request.clone()).await;
        let parsed: FetchLogsResponse = serde_json::from_slice(&body).unwrap();
        let canonical = serde_json::to_vec(&parsed).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&canonical),
            "{request}"
        );
        shapes.insert((
            parsed.more,
            parsed.operator.len(),
            parsed.packages.values().map(Vec::len).collect::<Vec<_>>(),
        ));
        // The second time comes from the serialised records and must not differ.
        assert_eq!(post(request.clone()).await, body, "{request}");
    }
    assert_eq!(shapes.len(), 5, "{shapes:?}");
    server.shutdown().await.unwrap();
}
