//! Restarting the server keeps every log and checkpoint: a client with cached state carries on
//! without rewind errors.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_client_updates_across_restart() {
    let dir = init_registry(&["example"]);
    let token = create_token(&dir, "example");
    let server = start(&dir, "127.0.0.1:0").await;
    let addr = server.local_addr.to_string();
    let url = server.public_url.to_string();
    let cache = tempfile::tempdir().unwrap();
    let client = client(&url, cache.path(), Some(&token));
    let key = new_key();
    let pkg = name("example:restart");
    release(&client, &key, &pkg, "0.1.0", component(1), true)
        .await
        .unwrap();
    let before: serde_json::Value = reqwest::get(format!("{url}v1/fetch/checkpoint"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server.shutdown().await.unwrap();

    // Same address, so the client's cache (keyed by URL) is reused as is.
    let server = start(&dir, &addr).await;
    let after: serde_json::Value = reqwest::get(format!("{url}v1/fetch/checkpoint"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(before, after, "restart must serve the same checkpoint");
    client.update().await.unwrap();
    release(&client, &key, &pkg, "0.2.0", component(2), false)
        .await
        .unwrap();
    client.update().await.unwrap();

    let cache2 = tempfile::tempdir().unwrap();
    let fresh = common::client(&url, cache2.path(), None);
    let got = fresh
        .download(&pkg, &"*".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.version.to_string(), "0.2.0");
    assert_eq!(std::fs::read(got.path).unwrap(), component(2));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_server_on_same_data_dir_is_refused() {
    let dir = init_registry(&["example"]);
    let server = start(&dir, "127.0.0.1:0").await;
    let second =
        wtool_registry::server::RunningServer::start(load_config(&dir, "127.0.0.1:0", false)).await;
    let err = format!("{:#}", second.err().expect("must be refused"));
    assert!(err.contains("in use"), "{err}");
    server.shutdown().await.unwrap();
}
