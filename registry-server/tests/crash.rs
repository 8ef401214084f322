//! `kill -9` the real binary in the middle of uploads and publishes, repeatedly. Every record a
//! client saw as published must survive, no partial blob may be visible, and clients verify.

mod common;

use common::*;
use sha2::Digest as _;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_kill_9() {
    let dir = init_registry(&["example"]);
    let token = create_token(&dir, "example");
    // Pick a port once so every incarnation has the same URL (client caches are per URL).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let key = new_key();
    let pkg = name("example:crash");
    let mut acknowledged: Vec<(String, Vec<u8>)> = Vec::new();
    let mut version = 1u32;
    {
        // The package exists before the first kill, so every later publish is a plain release.
        let server = spawn_server(&dir, &listen, &[]).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let client = client(&server.url, cache.path(), Some(&token));
        release(&client, &key, &pkg, "0.1.0", component(1), true)
            .await
            .unwrap();
        acknowledged.push(("0.1.0".into(), component(1)));
    }

    for round in 0..6u64 {
        let server = spawn_server(&dir, &listen, &[]).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let client = client(&server.url, cache.path(), Some(&token));
        // Kill at a different moment each round, while publishes are in flight.
        let kill_after = Duration::from_millis(40 + round * 37);
        let publishing = async {
            loop {
                version += 1;
                // Every other release is large, so kills also land in the middle of uploads.
                let bytes = if version.is_multiple_of(2) {
                    sized_component(1 << 20, version as u8)
                } else {
                    component(version)
                };
                let v = format!("0.{version}.0");
                match release(&client, &key, &pkg, &v, bytes.clone(), false).await {
                    Ok(_) => acknowledged.push((v, bytes)),
                    Err(_) => break,
                }
            }
        };
        let mut server = server;
        tokio::select! {
            _ = publishing => {}
            _ = tokio::time::sleep(kill_after) => {}
        }
        server.child.kill().unwrap();
        server.child.wait().unwrap();
    }

    // A partial upload left behind in an embedded store must not be visible as content.
    let tmp = match dir.store() {
        wtool_testkit::registry::StoreOf::Embedded(data) => {
            let tmp = data.join("blobs").join("tmp");
            std::fs::write(tmp.join("upload-leftover"), b"partial").unwrap();
            Some(tmp)
        }
        wtool_testkit::registry::StoreOf::Shared { .. } => None,
    };

    let server = spawn_server(&dir, &listen, &[]).unwrap();
    if let Some(tmp) = tmp {
        assert!(
            std::fs::read_dir(&tmp).unwrap().next().is_none(),
            "temp uploads are cleared at start"
        );
    }
    // Every stored blob is whole: its bytes have its name.
    for (hex, bytes) in dir.stored_blobs() {
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), hex);
    }
    assert!(
        acknowledged.len() > 1,
        "some publishes between kills should have completed"
    );
    let cache = tempfile::tempdir().unwrap();
    let reader = client(&server.url, cache.path(), None);
    for (v, bytes) in &acknowledged {
        let got = reader
            .download_exact(&pkg, &v.parse().unwrap())
            .await
            .unwrap_or_else(|e| panic!("acknowledged {v} lost: {e:#}"));
        assert_eq!(&std::fs::read(got.path).unwrap(), bytes, "{v}");
    }
    // And publishing continues on top of the recovered log.
    let writer_cache = tempfile::tempdir().unwrap();
    let writer = client(&server.url, writer_cache.path(), Some(&token));
    release(&writer, &key, &pkg, "9.0.0", component(9999), false)
        .await
        .unwrap();
    reader.update().await.unwrap();
    eprintln!(
        "{} acknowledged releases survived 6 kills",
        acknowledged.len()
    );
}
