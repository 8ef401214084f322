//! Several clients race to publish on the same package head: exactly one wins per head and the
//! log stays valid for every client.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_winner_per_head() {
    let dir = init_registry(&["example"]);
    let token = create_token(&dir, "example");
    let server = start(&dir, "127.0.0.1:0").await;
    let url = server.public_url.to_string();
    let key = new_key();
    let pkg = name("example:race");
    let setup_cache = tempfile::tempdir().unwrap();
    let setup = client(&url, setup_cache.path(), Some(&token));
    release(&setup, &key, &pkg, "0.0.1", component(1000), true)
        .await
        .unwrap();

    const CLIENTS: u32 = 4;
    let caches: Vec<_> = (0..CLIENTS).map(|_| tempfile::tempdir().unwrap()).collect();
    let clients: Vec<_> = caches
        .iter()
        .map(|c| client(&url, c.path(), Some(&token)))
        .collect();
    // Every client learns the same head first, so all records carry the same `prev`.
    for c in &clients {
        c.fetch_package(&pkg).await.unwrap();
    }
    let mut total_wins = 0;
    for round in 0..3u32 {
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
                c.wait_for_publish(&pkg, &id, std::time::Duration::from_millis(20))
                    .await?;
                anyhow::Ok(())
            }
        });
        let results = futures_util::future::join_all(attempts).await;
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        total_wins += wins;
        for c in &clients {
            c.update().await.unwrap();
            c.fetch_package(&pkg).await.unwrap();
        }
    }
    let cache = tempfile::tempdir().unwrap();
    let fresh = client(&url, cache.path(), None);
    let info = fresh.fetch_package(&pkg).await.unwrap();
    assert_eq!(info.state.releases().count(), 1 + total_wins);
    server.shutdown().await.unwrap();
}
