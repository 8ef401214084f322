//! The real warg-client 0.10 against a real wtool-registry: every publish and download path the
//! client has, with its own checkpoint and proof verification on each step.

mod common;

use common::*;
use warg_client::storage::PublishEntry;
use warg_protocol::package::Permission;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warg_client_publishes_updates_and_downloads() {
    let dir = init_registry(&["example"]);
    let token = create_token(&dir, "example");
    let server = start(&dir, "127.0.0.1:0").await;
    let url = server.public_url.to_string();
    let cache = tempfile::tempdir().unwrap();
    let client = client(&url, cache.path(), Some(&token));
    let owner = new_key();
    let pkg = name("example:hello");

    // Init on its own, then a release, then a second release.
    publish(&client, &owner, &pkg, vec![PublishEntry::Init])
        .await
        .unwrap();
    let v1 = component(1);
    let v2 = component(2);
    release(&client, &owner, &pkg, "0.1.0", v1.clone(), false)
        .await
        .unwrap();
    release(&client, &owner, &pkg, "0.2.0", v2.clone(), false)
        .await
        .unwrap();

    // Grant a second key release rights, let it release, then revoke and yank.
    let other = new_key();
    publish(
        &client,
        &owner,
        &pkg,
        vec![PublishEntry::Grant {
            key: other.public_key(),
            permissions: vec![Permission::Release],
        }],
    )
    .await
    .unwrap();
    release(&client, &other, &pkg, "0.3.0", component(3), false)
        .await
        .unwrap();
    publish(
        &client,
        &owner,
        &pkg,
        vec![PublishEntry::Revoke {
            key_id: other.public_key().fingerprint(),
            permissions: vec![Permission::Release],
        }],
    )
    .await
    .unwrap();
    let denied = release(&client, &other, &pkg, "0.4.0", component(4), false).await;
    let err = format!("{:#}", denied.unwrap_err());
    assert!(
        err.contains("release"),
        "revoked key must be rejected: {err}"
    );
    publish(
        &client,
        &owner,
        &pkg,
        vec![PublishEntry::Yank {
            version: "0.3.0".parse().unwrap(),
        }],
    )
    .await
    .unwrap();

    // A fresh client with an empty cache verifies the whole history and downloads.
    let cache2 = tempfile::tempdir().unwrap();
    let reader = common::client(&url, cache2.path(), None);
    let latest = reader
        .download(&pkg, &"*".parse().unwrap())
        .await
        .unwrap()
        .expect("a release");
    assert_eq!(latest.version.to_string(), "0.2.0", "0.3.0 is yanked");
    assert_eq!(std::fs::read(&latest.path).unwrap(), v2);
    let first = reader
        .download_exact(&pkg, &"0.1.0".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&first.path).unwrap(), v1);

    // The first client updates from its cached checkpoint (consistency proof path).
    client.update().await.unwrap();
    reader.update().await.unwrap();

    // Auto-init: one record holding init and release for a new package.
    let pkg2 = name("example:auto");
    release(&client, &owner, &pkg2, "1.0.0", component(5), true)
        .await
        .unwrap();
    let got = reader
        .download(&pkg2, &"1".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(&got.path).unwrap(), component(5));

    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_is_published_within_milliseconds() {
    let dir = init_registry(&["example"]);
    let token = create_token(&dir, "example");
    let server = start(&dir, "127.0.0.1:0").await;
    let url = server.public_url.to_string();
    let cache = tempfile::tempdir().unwrap();
    let client = client(&url, cache.path(), Some(&token));
    let key = new_key();
    let pkg = name("example:fast");
    release(&client, &key, &pkg, "0.1.0", component(1), true)
        .await
        .unwrap();

    // Submit directly and check the submit response itself already says `published`.
    let content = store_content(&client, component(2)).await;
    let started = std::time::Instant::now();
    let record_id = client
        .publish_with_info(
            &key,
            warg_client::storage::PublishInfo {
                name: pkg.clone(),
                head: None,
                entries: vec![PublishEntry::Release {
                    version: "0.2.0".parse().unwrap(),
                    content,
                }],
            },
        )
        .await
        .unwrap();
    let log_id = warg_protocol::registry::LogId::package_log::<warg_crypto::hash::Sha256>(&pkg);
    let status: serde_json::Value =
        reqwest::get(format!("{url}v1/package/{log_id}/record/{record_id}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(status["state"], "published", "{status}");
    eprintln!("publish (fetch, submit, upload, commit) took {elapsed:?}");
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
    server.shutdown().await.unwrap();
}
