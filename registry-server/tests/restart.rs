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

/// An upload URL the server issued stays valid across a restart: the record it belongs to is
/// pending in the store, not in the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_upload_continues_after_restart() {
    use common::raw::*;
    let dir = init_registry(&["example"]);
    let token = create_token(&dir, "example");
    let server = start(&dir, "127.0.0.1:0").await;
    let addr = server.local_addr.to_string();
    let url = server.public_url.to_string();
    let http = reqwest::Client::new();
    let pkg = "example:pending";
    let bytes = component(7);
    let key = new_key();
    let answer: serde_json::Value = http
        .post(format!("{url}{}", publish_path(pkg)))
        .bearer_auth(&token)
        .json(&publish_body(pkg, record(&key, &key, &digest_of(&bytes))))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["state"], "sourcing", "{answer}");
    let upload = upload_url(&answer);
    let record_id = answer["recordId"].as_str().unwrap().to_string();
    server.shutdown().await.unwrap();

    let server = start(&dir, &addr).await;
    let res = http.post(&upload).body(bytes.clone()).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let state = published_status(&http, &url, pkg, &record_id).await;
    assert_eq!(state["state"], "published", "{state}");

    let cache = tempfile::tempdir().unwrap();
    let got = common::client(&url, cache.path(), None)
        .download(&name(pkg), &"*".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), bytes);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_is_refused_on_an_embedded_store_and_welcome_on_a_shared_one() {
    let dir = init_registry(&["example"]);
    let server = start(&dir, "127.0.0.1:0").await;
    let second =
        wtool_registry::server::RunningServer::start(load_config(&dir, "127.0.0.1:0", false)).await;
    match dir.store() {
        wtool_testkit::registry::StoreOf::Embedded(_) => {
            let err = format!("{:#}", second.err().expect("must be refused"));
            assert!(err.contains("in use"), "{err}");
        }
        wtool_testkit::registry::StoreOf::Shared { .. } => {
            let second = second.expect("instances may share a database");
            let at = |url: String| async move {
                let body: serde_json::Value = reqwest::get(format!("{url}v1/fetch/checkpoint"))
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                body
            };
            assert_eq!(
                at(server.public_url.to_string()).await,
                at(second.public_url.to_string()).await
            );
            second.shutdown().await.unwrap();
        }
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_store_is_refused_at_start() {
    let dir = init_registry(&["example"]);
    let query = "SELECT envelope FROM checkpoints WHERE log_length = 1";
    let forge = |envelope: &str| {
        let mut forged: serde_json::Value = serde_json::from_str(envelope).unwrap();
        forged["contents"]["logRoot"] = serde_json::json!(format!("sha256:{}", "00".repeat(32)));
        forged.to_string()
    };
    match dir.store() {
        wtool_testkit::registry::StoreOf::Embedded(data) => {
            let db = rusqlite::Connection::open(data.join("registry.db")).unwrap();
            let envelope: String = db.query_row(query, [], |r| r.get(0)).unwrap();
            db.execute(
                "UPDATE checkpoints SET envelope = ?1 WHERE log_length = 1",
                [forge(&envelope)],
            )
            .unwrap();
        }
        wtool_testkit::registry::StoreOf::Shared { database, .. } => {
            let pg = wtool_testkit::services::postgres();
            let envelope = pg.psql(&database, query);
            let forged = forge(envelope.trim()).replace('\'', "''");
            pg.psql(
                &database,
                &format!("UPDATE checkpoints SET envelope = '{forged}' WHERE log_length = 1"),
            );
        }
    }
    let res =
        wtool_registry::server::RunningServer::start(load_config(&dir, "127.0.0.1:0", false)).await;
    let err = format!(
        "{:#}",
        res.err().expect("a forged checkpoint must stop the server")
    );
    assert!(err.contains("does not match"), "{err}");
}
