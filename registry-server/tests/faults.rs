//! A full disk under a running registry: writes are refused with 507 and store nothing, reads
//! go on, and writes work again once space is freed, without a restart. The data directory is
//! a small tmpfs the test mounts (it runs as root, as CI does).

mod common;

use common::raw::*;
use common::*;
use wtool_testkit::tmpfs::Tmpfs;

async fn status_and_text(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_507_keeps_reads_and_recovers_without_a_restart() {
    // The embedded store: this is about the local disk, whatever WTOOL_TEST_STORE says.
    let dir = DataDir::init_on(BIN.as_ref(), &["example", "generic"], &[]);
    dir.edit_config(
        "generic_namespaces = []",
        "generic_namespaces = [\"generic\"]",
    );
    let token = dir.token(&["example", "generic"]);
    let disk = Tmpfs::over(&dir.path(), "24m");
    let server = dir.serve("127.0.0.1:0", &[]).unwrap();
    let url = server.url.clone();
    let http = reqwest::Client::new();

    let cache = tempfile::tempdir().unwrap();
    let warg = client(&url, cache.path(), Some(&token));
    let key = new_key();
    let first = component(11);
    release(
        &warg,
        &key,
        &name("example:kept"),
        "1.0.0",
        first.clone(),
        true,
    )
    .await
    .unwrap();
    let before = dir.stored_blobs().len();

    let filler = disk.fill();

    // A warg publish: the record or its content is refused with 507, saying why.
    let bytes = sized_component(256 * 1024, 5);
    let pkg = "example:later";
    let res = http
        .post(format!("{url}{}", publish_path(pkg)))
        .bearer_auth(&token)
        .json(&publish_body(pkg, record(&key, &key, &digest_of(&bytes))))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_text(res).await;
    let mut upload = None;
    let (status, body) = if status == 202 {
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        let to = upload_url(&answer);
        upload = Some((to.clone(), answer["recordId"].as_str().unwrap().to_string()));
        let res = http.post(to).body(bytes.clone()).send().await.unwrap();
        status_and_text(res).await
    } else {
        (status, body)
    };
    assert_eq!(status, 507, "{body}");
    assert!(body.contains("disk is full"), "{body}");

    // An OCI blob push: refused with 507 too, at whichever step needs the disk first.
    let blob = vec![9u8; 300 * 1024];
    let digest = format!("sha256:{}", {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&blob))
    });
    let res = http
        .post(format!(
            "{url}v2/generic/full/blobs/uploads/?digest={digest}"
        ))
        .bearer_auth(&token)
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_text(res).await;
    assert_eq!(status, 507, "{body}");

    // Reads go on: the checkpoint, the package, its content.
    let res = http
        .get(format!("{url}v1/fetch/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let reader_cache = tempfile::tempdir().unwrap();
    let reader = client(&url, reader_cache.path(), None);
    let got = reader
        .download_exact(&name("example:kept"), &"1.0.0".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), first);
    // Nothing half-written stayed behind.
    assert_eq!(dir.stored_blobs().len(), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("blobs/tmp"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Space again: the same server takes the content it refused (the upload URL it issued is
    // still good), and new publishes.
    std::fs::remove_file(&filler).unwrap();
    if let Some((to, record_id)) = upload {
        let res = http.post(to).body(bytes.clone()).send().await.unwrap();
        let (status, body) = status_and_text(res).await;
        assert!((200..300).contains(&status), "{status} {body}");
        let state = published_status(&http, &url, pkg, &record_id).await;
        assert_eq!(state["state"], "published", "{state}");
    } else {
        release(&warg, &key, &name(pkg), "1.0.0", bytes.clone(), true)
            .await
            .unwrap();
    }
    release(
        &warg,
        &key,
        &name("example:kept"),
        "1.1.0",
        component(12),
        false,
    )
    .await
    .unwrap();
    let res = http
        .post(format!(
            "{url}v2/generic/full/blobs/uploads/?digest={digest}"
        ))
        .bearer_auth(&token)
        .body(blob)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let got = reader
        .download_exact(&name(pkg), &"1.0.0".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), bytes);
    drop(server);
}
