//! Real OCI peers against the real `wtool-registry`: wkg's library (wasm-pkg-client 0.16),
//! oras-py and skopeo; and one package seen over both protocols.

mod common;

use common::*;
use futures_util::TryStreamExt;
use std::process::Command;
use wasm_pkg_client::{Client as WkgClient, PublishOpts};
use wasm_pkg_common::{config::Config as WkgConfig, package::PackageRef};

struct Reg {
    server: Spawned,
    data: DataDir,
    host: String,
    token: String,
    /// An empty Docker config, so no ambient credentials leak into a client.
    docker: tempfile::TempDir,
}

fn start() -> Reg {
    let data = init_registry(&["ns", "generic"]);
    data.edit_config(
        "generic_namespaces = []",
        "generic_namespaces = [\"generic\"]",
    );
    let token = data.token(&["ns", "generic"]);
    let server = spawn_server(&data, "127.0.0.1:0", &[]).unwrap();
    let host = server
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    Reg {
        server,
        data,
        host,
        token,
        docker: tempfile::tempdir().unwrap(),
    }
}

impl Reg {
    fn url(&self) -> String {
        self.server.url.trim_end_matches('/').to_string()
    }

    fn wkg(&self, token: Option<&str>) -> WkgClient {
        std::env::set_var("DOCKER_CONFIG", self.docker.path());
        let auth = token
            .map(|t| format!("auth = {{ username = \"wtool\", password = \"{t}\" }}"))
            .unwrap_or_default();
        let toml = format!(
            "default_registry = \"{h}\"\n[registry.\"{h}\".oci]\nprotocol = \"http\"\n{auth}\n",
            h = self.host
        );
        WkgClient::new(WkgConfig::from_toml(&toml).unwrap())
    }
}

/// A WIT package `ns:<name>@<version>` encoded as a component, as `wkg publish` wants.
fn wit_package(name: &str, version: &str, salt: u32) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve
        .push_str(
            "p.wit",
            &format!(
                "package ns:{name}@{version};\ninterface api{salt} {{\n  f: func() -> u32;\n}}\n"
            ),
        )
        .unwrap();
    wit_component::encode(&resolve, pkg).unwrap()
}

async fn wkg_fetch(client: &WkgClient, package: &str, version: &str) -> (String, Vec<u8>) {
    let package: PackageRef = package.parse().unwrap();
    let version = version.parse().unwrap();
    let release = client.get_release(&package, &version).await.unwrap();
    let chunks: Vec<bytes::Bytes> = client
        .stream_content(&package, &release)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    (release.content_digest.to_string(), chunks.concat())
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

#[tokio::test(flavor = "multi_thread")]
async fn wkg_publishes_and_fetches_and_warg_sees_the_release() {
    let r = start();
    let bytes = wit_package("hello", "0.1.0", 1);
    let client = r.wkg(Some(&r.token));
    let (pkg, version) = client
        .publish_release_data(
            Box::pin(std::io::Cursor::new(bytes.clone())),
            PublishOpts::default(),
        )
        .await
        .unwrap();
    assert_eq!(pkg.to_string(), "ns:hello");
    assert_eq!(version.to_string(), "0.1.0");

    // Back over OCI, anonymously: the same bytes, the layer digest as the lock's digest.
    let (digest, fetched) = wkg_fetch(&r.wkg(None), "ns:hello", "0.1.0").await;
    assert_eq!(fetched, bytes);
    assert_eq!(digest, sha256(&bytes));
    let versions = r.wkg(None).list_all_versions(&pkg).await.unwrap();
    assert_eq!(versions.len(), 1);

    // The same version again with other bytes: refused, and nothing changed.
    let other = wit_package("hello", "0.1.0", 2);
    let err = client
        .publish_release_data(
            Box::pin(std::io::Cursor::new(other)),
            PublishOpts {
                skip_semver_check: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
    // The same layer again (wkg's config has a new `created`): accepted, stored manifest kept.
    let before = reqwest::get(format!("{}/v2/ns/hello/manifests/0.1.0", r.url()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    client
        .publish_release_data(
            Box::pin(std::io::Cursor::new(bytes.clone())),
            PublishOpts {
                skip_semver_check: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let after = reqwest::get(format!("{}/v2/ns/hello/manifests/0.1.0", r.url()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(before, after);

    // A warg client updates, verifies against a checkpoint and downloads the same bytes.
    let cache = tempfile::tempdir().unwrap();
    let warg = client_for(&r, cache.path());
    let download = warg
        .download_exact(&name("ns:hello"), &"0.1.0".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&download.path).unwrap(), bytes);

    // Content the policy refuses: MANIFEST_INVALID with the reason, and no release.
    let http = reqwest::Client::new();
    let mut digests = Vec::new();
    let garbage = b"not wasm at all".to_vec();
    let config = format!(
        r#"{{"created":"2026-01-01T00:00:00Z","architecture":"wasm","os":"wasip2","layerDigests":["{}"]}}"#,
        sha256(&garbage)
    );
    for blob in [garbage.clone(), config.clone().into_bytes()] {
        let d = sha256(&blob);
        let res = http
            .post(format!("{}/v2/ns/bad/blobs/uploads/?digest={d}", r.url()))
            .bearer_auth(&r.token)
            .body(blob)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        digests.push(d);
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": digests[1], "size": config.len()},
        "layers": [{"mediaType": "application/wasm", "digest": digests[0], "size": garbage.len()}],
    });
    let res = http
        .put(format!("{}/v2/ns/bad/manifests/1.0.0", r.url()))
        .bearer_auth(&r.token)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "MANIFEST_INVALID");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("content policy"),
        "{body}"
    );
    let res = http
        .get(format!("{}/v2/ns/bad/tags/list", r.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

fn client_for(r: &Reg, cache: &std::path::Path) -> warg_client::FileSystemClient {
    client(&r.url(), cache, None)
}

#[tokio::test(flavor = "multi_thread")]
async fn warg_release_is_pullable_over_oci_with_a_stable_manifest() {
    let r = start();
    let cache = tempfile::tempdir().unwrap();
    let warg = client(&r.url(), cache.path(), Some(&r.token));
    let key = new_key();
    let bytes = wit_package("clock", "1.0.0", 3);
    release(&warg, &key, &name("ns:clock"), "1.0.0", bytes.clone(), true)
        .await
        .unwrap();

    let (digest, fetched) = wkg_fetch(&r.wkg(None), "ns:clock", "1.0.0").await;
    assert_eq!(fetched, bytes);
    assert_eq!(digest, sha256(&bytes));
    let manifest_url = format!("{}/v2/ns/clock/manifests/1.0.0", r.url());
    let first = reqwest::get(&manifest_url).await.unwrap();
    let d1 = first.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    let body1 = first.bytes().await.unwrap();

    // An OCI push to a warg-owned package is refused until its owner grants the registry key.
    let wkg = r.wkg(Some(&r.token));
    let next = wit_package("clock", "1.1.0", 4);
    let err = wkg
        .publish_release_data(
            Box::pin(std::io::Cursor::new(next.clone())),
            PublishOpts::default(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not allow OCI pushes"),
        "{err}"
    );
    let meta: serde_json::Value =
        reqwest::get(format!("{}/.well-known/wasm-pkg/registry.json", r.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let registry_key: warg_crypto::signing::PublicKey = meta["oci"]["publisherKey"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    publish(
        &warg,
        &key,
        &name("ns:clock"),
        vec![warg_client::storage::PublishEntry::Grant {
            key: registry_key,
            permissions: vec![warg_protocol::package::Permission::Release],
        }],
    )
    .await
    .unwrap();
    wkg.publish_release_data(
        Box::pin(std::io::Cursor::new(next.clone())),
        PublishOpts::default(),
    )
    .await
    .unwrap();
    warg.update().await.unwrap();
    let download = warg
        .download_exact(&name("ns:clock"), &"1.1.0".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&download.path).unwrap(), next);

    // The derived manifest is the same after a restart.
    let Reg {
        server,
        data,
        docker,
        token,
        host,
    } = r;
    drop(server);
    let server = spawn_server(&data, &host, &[]).unwrap();
    let again = reqwest::get(&manifest_url).await.unwrap();
    assert_eq!(
        again.headers()["docker-content-digest"].to_str().unwrap(),
        d1
    );
    assert_eq!(again.bytes().await.unwrap(), body1);
    drop((server, docker, token));
}

fn peer(program: &str, install: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "`{program}` is needed for this test: {install}");
    Command::new(program)
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed:\n{}\n{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn oras_py_pushes_and_pulls_an_artifact() {
    let r = start();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("hello.wasm");
    let bytes = component(7);
    std::fs::write(&file, &bytes).unwrap();
    let script = r#"
import sys, oras.client
host, token, path, out = sys.argv[1:5]
c = oras.client.OrasClient(hostname=host, insecure=True)
c.login(username="wtool", password=token, hostname=host)
c.push(target=f"{host}/generic/oras/art:v1", files=[path + ":application/wasm"])
print(c.get_tags(f"{host}/generic/oras/art"))
c.pull(target=f"{host}/generic/oras/art:v1", outdir=out)
"#;
    let out = work.path().join("out");
    let mut cmd = peer("python3", "pip install oras");
    cmd.current_dir(work.path())
        .env("DOCKER_CONFIG", r.docker.path())
        .args(["-c", script, &r.host, &r.token])
        .arg(&file)
        .arg(&out);
    let printed = run_ok(&mut cmd);
    assert!(printed.contains("v1"), "{printed}");
    assert_eq!(std::fs::read(out.join("hello.wasm")).unwrap(), bytes);
}

#[test]
fn skopeo_copies_an_oci_layout_in_and_out() {
    let r = start();
    let work = tempfile::tempdir().unwrap();
    // An OCI layout with one wasm artifact, written by hand from its bytes.
    let layout = work.path().join("in");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let put = |b: &[u8]| {
        let d = sha256(b);
        std::fs::write(layout.join("blobs/sha256").join(&d[7..]), b).unwrap();
        d
    };
    let wasm = component(8);
    let config = br#"{"created":"2026-01-01T00:00:00Z","architecture":"wasm","os":"wasip2","layerDigests":[]}"#;
    let (cd, ld) = (put(config), put(&wasm));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/wasm", "digest": ld, "size": wasm.len()}],
    });
    let mbytes = serde_json::to_vec(&manifest).unwrap();
    let md = put(&mbytes);
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        layout.join("index.json"),
        serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mbytes.len(), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}).to_string(),
    )
    .unwrap();
    let creds = format!("wtool:{}", r.token);
    let dest = format!("docker://{}/generic/skopeo/art:v1", r.host);
    run_ok(
        peer("skopeo", "apt-get install skopeo")
            .env("DOCKER_CONFIG", r.docker.path())
            .args(["copy", "--dest-tls-verify=false", "--dest-creds", &creds])
            .arg(format!("oci:{}:v1", layout.display()))
            .arg(&dest),
    );
    // Copy between repositories (mount), list tags, inspect, and copy back out.
    run_ok(
        peer("skopeo", "apt-get install skopeo")
            .env("DOCKER_CONFIG", r.docker.path())
            .args([
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--src-creds",
                &creds,
                "--dest-creds",
                &creds,
            ])
            .arg(&dest)
            .arg(format!("docker://{}/generic/skopeo/copy:v1", r.host)),
    );
    let tags = run_ok(
        peer("skopeo", "apt-get install skopeo")
            .args(["list-tags", "--tls-verify=false"])
            .arg(format!("docker://{}/generic/skopeo/copy", r.host)),
    );
    assert!(tags.contains("\"v1\""), "{tags}");
    let raw = run_ok(
        peer("skopeo", "apt-get install skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(&dest),
    );
    assert_eq!(raw.as_bytes(), mbytes.as_slice());
    let out = work.path().join("out");
    run_ok(
        peer("skopeo", "apt-get install skopeo")
            .args(["copy", "--src-tls-verify=false"])
            .arg(&dest)
            .arg(format!("oci:{}:v1", out.display())),
    );
    assert_eq!(
        std::fs::read(out.join("blobs/sha256").join(&ld[7..])).unwrap(),
        wasm
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_yanked_release_leaves_tags_list_but_stays_pullable() {
    let r = start();
    let cache = tempfile::tempdir().unwrap();
    let warg = client(&r.url(), cache.path(), Some(&r.token));
    let key = new_key();
    let pkg = name("ns:yanky");
    release(
        &warg,
        &key,
        &pkg,
        "1.0.0",
        wit_package("yanky", "1.0.0", 5),
        true,
    )
    .await
    .unwrap();
    release(
        &warg,
        &key,
        &pkg,
        "1.0.1",
        wit_package("yanky", "1.0.1", 6),
        false,
    )
    .await
    .unwrap();
    let tags_url = format!("{}/v2/ns/yanky/tags/list", r.url());
    let tags: serde_json::Value = reqwest::get(&tags_url).await.unwrap().json().await.unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["1.0.0", "1.0.1"]));
    let m = reqwest::get(format!("{}/v2/ns/yanky/manifests/1.0.0", r.url()))
        .await
        .unwrap();
    let digest = m.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    publish(
        &warg,
        &key,
        &pkg,
        vec![warg_client::storage::PublishEntry::Yank {
            version: "1.0.0".parse().unwrap(),
        }],
    )
    .await
    .unwrap();
    let tags: serde_json::Value = reqwest::get(&tags_url).await.unwrap().json().await.unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["1.0.1"]));
    let res = reqwest::get(format!("{}/v2/ns/yanky/manifests/{digest}", r.url()))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // wkg no longer sees it when listing.
    let versions = r
        .wkg(None)
        .list_all_versions(&"ns:yanky".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(versions.len(), 1);
}
