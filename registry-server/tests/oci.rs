//! The OCI distribution API of the real `wtool-registry` on a loopback port: uploads in every
//! form, range reads, manifests, tags, referrers, the catalog, errors and auth.

mod common;

use common::*;
use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256, Sha512};

struct Oci {
    _server: Spawned,
    data: DataDir,
    url: String,
    token: String,
    http: Client,
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(b)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A registry with namespace `ns` for packages and `generic` for any content.
fn start_oci() -> Oci {
    let data = init_registry(&["ns", "generic"]);
    data.edit_config(
        "generic_namespaces = []",
        "generic_namespaces = [\"generic\"]",
    );
    let token = data.token(&["generic", "ns"]);
    let server = spawn_server(&data, "127.0.0.1:0", &[]).unwrap();
    Oci {
        url: server.url.trim_end_matches('/').to_string(),
        _server: server,
        data,
        token,
        http: Client::new(),
    }
}

impl Oci {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.req(reqwest::Method::GET, path).send().await.unwrap()
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.url)
        };
        self.http.request(method, url).bearer_auth(&self.token)
    }

    async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let d = sha256(bytes);
        let res = self
            .req(
                reqwest::Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            )
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        created(res).await;
        d
    }

    async fn push_manifest(&self, repo: &str, reference: &str, m: &Value) -> reqwest::Response {
        self.req(
            reqwest::Method::PUT,
            &format!("/v2/{repo}/manifests/{reference}"),
        )
        .header(header::CONTENT_TYPE, m["mediaType"].as_str().unwrap())
        .body(serde_json::to_vec(m).unwrap())
        .send()
        .await
        .unwrap()
    }
}

/// The answer, when it is 201 Created; otherwise the test fails showing the error body.
async fn created(res: reqwest::Response) -> reqwest::Response {
    let status = res.status();
    if status != StatusCode::CREATED {
        panic!(
            "expected 201 Created, got {status}: {}",
            res.text().await.unwrap_or_default()
        );
    }
    res
}

async fn error_codes(res: reqwest::Response) -> Vec<String> {
    let body: Value = res.json().await.unwrap();
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect()
}

fn image(config: &str, config_len: usize, layers: &[(&str, usize)]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_len},
        "layers": layers.iter().map(|(d, n)| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n})).collect::<Vec<_>>(),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_in_every_form_and_range_reads() {
    let r = start_oci();
    let repo = "generic/deep/path_with.dots";
    use reqwest::Method as M;

    // Monolithic POST.
    let one = r.push_blob(repo, b"monolithic").await;

    // Chunked: POST, PATCH with Content-Range twice, PUT ?digest.
    let blob: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let res = r
        .req(M::POST, &format!("/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.headers()["range"], "0-0");
    assert_eq!(
        res.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.starts_with(&format!("/v2/{repo}/blobs/uploads/")),
        "{loc}"
    );
    let res = r
        .req(M::PATCH, &loc)
        .header("content-range", "0-2999")
        .body(blob[..3000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.headers()["range"], "0-2999");
    // Out of order: 416 with where the session stands.
    let res = r
        .req(M::PATCH, &loc)
        .header("content-range", "4000-4999")
        .body(blob[4000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(res.headers()["range"], "0-2999");
    // Status.
    let res = r.get(&loc).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["range"], "0-2999");
    // Final chunk in the closing PUT.
    let d = sha256(&blob);
    let res = r
        .req(M::PUT, &format!("{loc}?digest={d}"))
        .header("content-range", "3000-4999")
        .body(blob[3000..].to_vec())
        .send()
        .await
        .unwrap();
    let res = created(res).await;
    assert_eq!(res.headers()["docker-content-digest"], d.as_str());
    // The session is gone once closed.
    let res = r.get(&loc).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_codes(res).await, ["BLOB_UPLOAD_UNKNOWN"]);

    // Streamed PATCH without Content-Range, then an empty PUT (skopeo's way), sha512.
    let streamed = b"streamed without a content range".to_vec();
    let d512 = format!("sha512:{}", hex(&Sha512::digest(&streamed)));
    let res = r
        .req(M::POST, &format!("/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    for part in [&streamed[..10], &streamed[10..]] {
        let res = r
            .req(M::PATCH, &loc)
            .body(part.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let res = r
        .req(M::PUT, &format!("{loc}?digest={d512}"))
        .send()
        .await
        .unwrap();
    created(res).await;
    let got = r.get(&format!("/v2/{repo}/blobs/{d512}")).await;
    assert_eq!(got.headers()["docker-content-digest"], d512.as_str());
    assert_eq!(got.bytes().await.unwrap(), streamed);

    // A wrong digest on close, and a digest that is not one.
    let res = r
        .req(M::POST, &format!("/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    let res = r
        .req(M::PUT, &format!("{loc}?digest={}", sha256(b"other")))
        .body(b"these bytes".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_codes(res).await, ["DIGEST_INVALID"]);
    let res = r
        .req(
            M::POST,
            &format!("/v2/{repo}/blobs/uploads/?digest=sha256:baddigeststring"),
        )
        .body(b"x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_codes(res).await, ["DIGEST_INVALID"]);
    assert!(!r
        .data
        .path()
        .join("blobs/sha256")
        .join(&sha256(b"these bytes")[7..])
        .exists());

    // Mount from another repository: 201 with the digest; unknown blob: a session instead.
    let res = r
        .req(
            M::POST,
            &format!("/v2/generic/other/blobs/uploads/?mount={d}&from={repo}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["docker-content-digest"], d.as_str());
    let res = r
        .req(
            M::POST,
            &format!(
                "/v2/generic/other/blobs/uploads/?mount={}&from={repo}",
                sha256(b"nope")
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    // HEAD, ranges, 416.
    let res = r
        .req(M::HEAD, &format!("/v2/{repo}/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-length"], "5000");
    let res = r
        .req(M::GET, &format!("/v2/{repo}/blobs/{d}"))
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()["content-range"], "bytes 10-19/5000");
    assert_eq!(res.bytes().await.unwrap(), blob[10..20]);
    let res = r
        .req(M::GET, &format!("/v2/{repo}/blobs/{d}"))
        .header("range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap(), blob[4995..]);
    for bad in ["bytes=6000-7000", "bytes=500-0"] {
        let res = r
            .req(M::GET, &format!("/v2/{repo}/blobs/{d}"))
            .header("range", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{bad}");
    }
    let res = r.get(&format!("/v2/{repo}/blobs/{one}")).await;
    assert_eq!(res.bytes().await.unwrap(), &b"monolithic"[..]);
    let res = r
        .get(&format!("/v2/{repo}/blobs/{}", sha256(b"absent")))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_codes(res).await, ["BLOB_UNKNOWN"]);
    let res = r
        .req(M::DELETE, &format!("/v2/{repo}/blobs/{one}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_codes(res).await, ["UNSUPPORTED"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_tags_referrers_and_catalog() {
    let r = start_oci();
    let repo = "generic/app";
    use reqwest::Method as M;
    let config = r.push_blob(repo, b"{}").await;
    let layer = r.push_blob(repo, b"layer one").await;
    let m = image(&config, 2, &[(&layer, 9)]);
    let res = r.push_manifest(repo, "v1", &m).await;
    let res = created(res).await;
    let digest = res.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with(&digest));

    // By tag and by digest, repeated Accept lines, the stored type.
    for reference in ["v1", digest.as_str()] {
        let res = r
            .req(M::GET, &format!("/v2/{repo}/manifests/{reference}"))
            .header(
                "accept",
                "application/vnd.docker.distribution.manifest.v2+json",
            )
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()["content-type"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(res.headers()["docker-content-digest"], digest.as_str());
        assert_eq!(sha256(&res.bytes().await.unwrap()), digest);
    }
    let res = r
        .req(M::HEAD, &format!("/v2/{repo}/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_ne!(res.headers()["content-length"], "0");

    // Tags are immutable: the same manifest again is fine, another is refused.
    assert_eq!(
        r.push_manifest(repo, "v1", &m).await.status(),
        StatusCode::CREATED
    );
    let layer2 = r.push_blob(repo, b"layer two").await;
    let other = image(&config, 2, &[(&layer2, 9)]);
    let res = r.push_manifest(repo, "v1", &other).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_codes(res).await, ["DENIED"]);
    // A manifest naming a blob that is not there.
    let res = r
        .push_manifest(repo, "v9", &image(&config, 2, &[(&sha256(b"gone"), 4)]))
        .await;
    assert_eq!(error_codes(res).await, ["MANIFEST_BLOB_UNKNOWN"]);

    // Docker's media type, stored and served as pushed.
    let mut docker = other.clone();
    docker["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json".into();
    let res = r.push_manifest(repo, "docker", &docker).await;
    created(res).await;
    let res = r.get(&format!("/v2/{repo}/manifests/docker")).await;
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );

    // Pagination.
    for t in ["a", "b", "c"] {
        assert_eq!(
            r.push_manifest(repo, t, &m).await.status(),
            StatusCode::CREATED
        );
    }
    let all: Value = r
        .get(&format!("/v2/{repo}/tags/list"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["tags"], json!(["a", "b", "c", "docker", "v1"]));
    let res = r.get(&format!("/v2/{repo}/tags/list?n=2")).await;
    let link = res.headers()["link"].to_str().unwrap().to_string();
    assert_eq!(
        link,
        format!("</v2/{repo}/tags/list?n=2&last=b>; rel=\"next\"")
    );
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["tags"], json!(["a", "b"]));
    let page: Value = r
        .get(&format!("/v2/{repo}/tags/list?n=2&last=b"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["tags"], json!(["c", "docker"]));
    let res = r.get(&format!("/v2/{repo}/tags/list?n=0")).await;
    assert!(res.headers().get("link").is_none());

    // Unknown repository: NAME_UNKNOWN alone.
    let res = r.get("/v2/generic/nothing/tags/list").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_codes(res).await, ["NAME_UNKNOWN"]);
    let res = r.get(&format!("/v2/{repo}/manifests/nope")).await;
    assert_eq!(error_codes(res).await, ["MANIFEST_UNKNOWN"]);

    // Referrers: a signature with `subject`, filtered by artifact type.
    let empty = r.push_blob(repo, b"{}").await;
    let sig = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 1},
        "annotations": {"org.example.signed-by": "test"},
    });
    let sig_bytes = serde_json::to_vec(&sig).unwrap();
    let sig_digest = sha256(&sig_bytes);
    let res = r
        .req(M::PUT, &format!("/v2/{repo}/manifests/{sig_digest}"))
        .header(
            header::CONTENT_TYPE,
            "application/vnd.oci.image.manifest.v1+json",
        )
        .body(sig_bytes)
        .send()
        .await
        .unwrap();
    let res = created(res).await;
    assert_eq!(res.headers()["oci-subject"], digest.as_str());
    let res = r.get(&format!("/v2/{repo}/referrers/{digest}")).await;
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.oci.image.index.v1+json"
    );
    let index: Value = res.json().await.unwrap();
    assert_eq!(index["manifests"][0]["digest"], sig_digest.as_str());
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/vnd.example.signature"
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.example.signed-by"],
        "test"
    );
    let res = r
        .req(
            M::GET,
            &format!("/v2/{repo}/referrers/{digest}?artifactType=application/x-other"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["oci-filters-applied"], "artifactType");
    let index: Value = res.json().await.unwrap();
    assert_eq!(index["manifests"], json!([]));

    // A manifest over 4 MB.
    let mut big = m.clone();
    big["annotations"] = json!({"filler": "x".repeat(4_200_000)});
    let res = r.push_manifest(repo, "big", &big).await;
    created(res).await;
    let res = r.get(&format!("/v2/{repo}/manifests/big")).await;
    assert!(res.bytes().await.unwrap().len() > 4_200_000);

    // The catalog.
    let cat: Value = r.get("/v2/_catalog?n=1").await.json().await.unwrap();
    assert_eq!(cat["repositories"], json!(["generic/app"]));
    let res = r
        .req(M::DELETE, &format!("/v2/{repo}/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_codes(res).await, ["UNSUPPORTED"]);
}

/// A namespace in `mutable_tag_namespaces` lets a tag move (mirrors do, and so does the
/// distribution-spec conformance suite); every other namespace keeps tags where they are.
#[tokio::test(flavor = "multi_thread")]
async fn tags_move_only_in_namespaces_configured_for_it() {
    // Only a generic namespace may be listed: package versions never move.
    let refused = init_registry(&["mirror"]);
    refused.edit_config(
        "mutable_tag_namespaces = []",
        "mutable_tag_namespaces = [\"mirror\"]",
    );
    let out = refused
        .serve_command()
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`mirror`, which is not in `generic_namespaces`"),
        "{stderr}"
    );

    let data = init_registry(&["mirror", "generic"]);
    data.edit_config(
        "generic_namespaces = []",
        "generic_namespaces = [\"mirror\", \"generic\"]",
    );
    data.edit_config(
        "mutable_tag_namespaces = []",
        "mutable_tag_namespaces = [\"mirror\"]",
    );
    let token = data.token(&["mirror", "generic"]);
    let server = spawn_server(&data, "127.0.0.1:0", &[]).unwrap();
    let r = Oci {
        url: server.url.trim_end_matches('/').to_string(),
        _server: server,
        data,
        token,
        http: Client::new(),
    };
    for (repo, moves) in [("mirror/app", true), ("generic/app", false)] {
        let config = r.push_blob(repo, b"{}").await;
        let first = image(&config, 2, &[(&r.push_blob(repo, b"one").await, 3)]);
        let second = image(&config, 2, &[(&r.push_blob(repo, b"two").await, 3)]);
        assert_eq!(
            r.push_manifest(repo, "latest", &first).await.status(),
            StatusCode::CREATED
        );
        let res = r.push_manifest(repo, "latest", &second).await;
        let expected = if moves {
            StatusCode::CREATED
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(res.status(), expected, "{repo}");
        let served = r
            .req(
                reqwest::Method::GET,
                &format!("/v2/{repo}/manifests/latest"),
            )
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let want = if moves { &second } else { &first };
        assert_eq!(served.as_ref(), serde_json::to_vec(want).unwrap(), "{repo}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_challenge_token_exchange_and_wrong_tokens() {
    let r = start_oci();
    let http = Client::new();
    let res = http.get(format!("{}/v2/", r.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.starts_with(&format!("Bearer realm=\"{}/v2/token\"", r.url)),
        "{challenge}"
    );

    // Anonymous pull token, good for pulls and /v2/, not for pushes.
    let anon: Value = http
        .get(format!(
            "{}/v2/token?service=x&scope=repository:ns/pkg:pull",
            r.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let anon = anon["token"].as_str().unwrap().to_string();
    let res = http
        .get(format!("{}/v2/", r.url))
        .bearer_auth(&anon)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = http
        .post(format!("{}/v2/ns/pkg/blobs/uploads/", r.url))
        .bearer_auth(&anon)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("scope=\"repository:ns/pkg:pull,push\""));

    // Basic with the wtr_ token as password, exchanged for a short-lived token that pushes.
    let issued: Value = http
        .get(format!(
            "{}/v2/token?service=x&scope=repository:ns/pkg:pull",
            r.url
        ))
        .basic_auth("anyone", Some(&r.token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(issued["token"], issued["access_token"]);
    assert!(issued["expires_in"].as_u64().unwrap() >= 60);
    let short = issued["token"].as_str().unwrap();
    let res = http
        .post(format!("{}/v2/ns/pkg/blobs/uploads/", r.url))
        .bearer_auth(short)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // The wtr_ token directly, as Basic password.
    let res = http
        .post(format!("{}/v2/ns/pkg/blobs/uploads/", r.url))
        .basic_auth("u", Some(&r.token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    // Wrong tokens are refused, never ignored; a token of another namespace is denied.
    for bad in ["wtr_nope_nope", "wto_forged.sig", "garbage"] {
        let res = http
            .get(format!("{}/v2/", r.url))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(error_codes(res).await, ["UNAUTHORIZED"]);
        let res = http
            .get(format!("{}/v2/token", r.url))
            .basic_auth("u", Some(bad))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad}");
    }
    let ns_only = r.data.token(&["ns"]);
    let res = http
        .post(format!("{}/v2/generic/x/blobs/uploads/", r.url))
        .bearer_auth(&ns_only)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_codes(res).await, ["DENIED"]);

    // Revoking the wtr_ token ends the short-lived ones issued for it at once.
    let id = r
        .token
        .strip_prefix("wtr_")
        .unwrap()
        .split('_')
        .next()
        .unwrap();
    r.data.ok(&["token", "revoke", id]);
    let res = http
        .post(format!("{}/v2/ns/pkg/blobs/uploads/", r.url))
        .bearer_auth(short)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_json_serves_both_client_families() {
    let r = start_oci();
    let body = reqwest::get(format!("{}/.well-known/wasm-pkg/registry.json", r.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let json: Value = serde_json::from_str(&body).unwrap();
    assert!(json.get("preferredProtocol").is_none());
    assert_eq!(json["oci"]["registry"], r.url.trim_start_matches("http://"));
    assert_eq!(json["wargUrl"], format!("{}/", r.url));
    // wkg 0.16 reads the `oci` block (its flattened map of protocol objects cannot hold the
    // `wargUrl` string, so it falls back to its defaults, which are the same with no prefix).
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Oci {
        registry: String,
        namespace_prefix: String,
    }
    let oci: Oci = serde_json::from_value(json["oci"].clone()).unwrap();
    assert_eq!(oci.registry, r.url.trim_start_matches("http://"));
    assert_eq!(oci.namespace_prefix, "");
    assert!(json["oci"]["publisherKey"]
        .as_str()
        .unwrap()
        .starts_with("ecdsa-p256:"));
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_continue_after_a_restart_and_abandoned_ones_expire() {
    let data = init_registry(&["generic"]);
    data.edit_config(
        "generic_namespaces = []",
        "generic_namespaces = [\"generic\"]",
    );
    let token = data.token(&["generic"]);
    let http = Client::new();
    let blob: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
    let d = sha256(&blob);

    let server = spawn_server(&data, "127.0.0.1:0", &[]).unwrap();
    let url = server.url.trim_end_matches('/').to_string();
    let res = http
        .post(format!("{url}/v2/generic/resume/blobs/uploads/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    let res = http
        .patch(format!("{url}{loc}"))
        .bearer_auth(&token)
        .header("content-range", "0-99")
        .body(blob[..100].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    drop(server); // kill -9

    let server = spawn_server(&data, "127.0.0.1:0", &[]).unwrap();
    let url = server.url.trim_end_matches('/').to_string();
    let res = http
        .get(format!("{url}{loc}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["range"], "0-99");
    let res = http
        .put(format!("{url}{loc}?digest={d}"))
        .bearer_auth(&token)
        .header("content-range", "100-199")
        .body(blob[100..].to_vec())
        .send()
        .await
        .unwrap();
    created(res).await;
    drop(server);

    // With a one-second expiry, an abandoned session and its bytes are gone shortly after.
    data.edit_config("upload_expiry_secs = 86400", "upload_expiry_secs = 1");
    let server = spawn_server(&data, "127.0.0.1:0", &[]).unwrap();
    let url = server.url.trim_end_matches('/').to_string();
    let res = http
        .post(format!("{url}/v2/generic/abandoned/blobs/uploads/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    http.patch(format!("{url}{loc}"))
        .bearer_auth(&token)
        .body(vec![7u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(data.upload_sessions(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let res = http
        .get(format!("{url}{loc}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_codes(res).await, ["BLOB_UPLOAD_UNKNOWN"]);
    assert_eq!(data.upload_sessions(), 0);
}
