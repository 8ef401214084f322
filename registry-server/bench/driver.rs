//! Benchmark driver (run by `bench.sh`, not a test): measures one warg registry at a URL with
//! the real warg client and raw HTTP, and prints one JSON object.
//!
//! Usage: `bench <registry url> <token or -> <namespace>`.

use futures_util::StreamExt;
use std::time::{Duration, Instant};
use warg_client::{storage::PublishEntry, FileSystemClient};
use warg_crypto::hash::Sha256;
use warg_protocol::registry::{LogId, PackageName};
use wtool_testkit::component::sized_component;
use wtool_testkit::warg;

#[path = "raw.rs"]
mod raw;
use raw::{percentile, raw_load, summarize};

/// One publish through the real client, timed until the registry reports it published.
async fn publish(
    client: &FileSystemClient,
    key: &warg_crypto::signing::PrivateKey,
    name: &PackageName,
    entries: Vec<PublishEntry>,
) -> Duration {
    let started = Instant::now();
    warg::publish(client, key, name, entries).await.unwrap();
    started.elapsed()
}

/// `concurrency` workers issue requests for `duration`; returns (requests/s, p50 ms, p99 ms, errors).
async fn load<F, Fut>(concurrency: usize, duration: Duration, make: F) -> serde_json::Value
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + duration;
    let workers = (0..concurrency).map(|_| {
        let make = make.clone();
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                if make().await {
                    lat.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        })
    });
    summarize(workers, duration).await
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("registry url").clone();
    let token = args.get(2).filter(|t| t.as_str() != "-").cloned();
    let namespace = args.get(3).cloned().unwrap_or_else(|| "example".into());
    let publishes: usize = std::env::var("BENCH_PUBLISHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let big_mb: usize = std::env::var("BENCH_BIG_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(18);

    let cache = tempfile::tempdir().unwrap();
    let client = warg::client(&url, cache.path(), token.as_deref());
    let key = warg::new_key();
    let run = std::process::id();
    let name = PackageName::new(format!("{namespace}:bench{run}")).unwrap();

    // Publish latency: each release is a full client publish (fetch, submit, upload, wait).
    let mut latencies = Vec::new();
    for i in 0..publishes {
        let content = warg::store_content(&client, sized_component(1000 + i, i as u8)).await;
        let mut entries = Vec::new();
        if i == 0 {
            entries.push(PublishEntry::Init);
        }
        entries.push(PublishEntry::Release {
            version: format!("0.{i}.0").parse().unwrap(),
            content,
        });
        latencies.push(publish(&client, &key, &name, entries).await);
    }
    latencies.sort();

    // Upload and download an 18 MB component.
    let big = sized_component(big_mb * 1024 * 1024, 7);
    let big_len = big.len();
    let digest = warg::store_content(&client, big).await;
    let upload = publish(
        &client,
        &key,
        &name,
        vec![PublishEntry::Release {
            version: "1.0.0".parse().unwrap(),
            content: digest.clone(),
        }],
    )
    .await;
    let http = reqwest::Client::new();
    let sources: serde_json::Value = http
        .get(format!("{url}v1/content/{digest}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let content_url = sources["contentSources"][digest.to_string()][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let mut downloads = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut s = http.get(&content_url).send().await.unwrap().bytes_stream();
        let mut n = 0;
        while let Some(chunk) = s.next().await {
            n += chunk.unwrap().len();
        }
        assert_eq!(n, big_len);
        downloads.push(big_len as f64 / 1e6 / t.elapsed().as_secs_f64());
    }

    // Read load with 64 concurrent clients.
    let checkpoint: serde_json::Value = http
        .get(format!("{url}v1/fetch/checkpoint"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let log_length = checkpoint["contents"]["logLength"].as_u64().unwrap();
    let log_id = LogId::package_log::<Sha256>(&name).to_string();
    let body = serde_json::json!({"logLength": log_length, "packages": {log_id.clone(): null}});
    let (h, u, b) = (http.clone(), url.clone(), body.clone());
    let fetch_logs = load(64, Duration::from_secs(seconds), move || {
        let (h, u, b) = (h.clone(), u.clone(), b.clone());
        async move {
            match h.post(format!("{u}v1/fetch/logs")).json(&b).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            }
        }
    })
    .await;
    let (h, u, d) = (http.clone(), url.clone(), digest.to_string());
    let content = load(64, Duration::from_secs(seconds), move || {
        let (h, u, d) = (h.clone(), u.clone(), d.clone());
        async move {
            match h.get(format!("{u}v1/content/{d}")).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            }
        }
    })
    .await;

    // The client's own ceiling: the same 64 reqwest clients on the cheapest request there is
    // (any answer counts, so warg-server's 404 does too). A read load that comes close to it
    // measures the client, not the server.
    let (h, u) = (http.clone(), url.clone());
    let client_ceiling = load(64, Duration::from_secs(seconds), move || {
        let (h, u) = (h.clone(), u.clone());
        async move {
            match h.get(format!("{u}healthz")).send().await {
                Ok(r) => r.bytes().await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await;

    // The same two loads over minimal keep-alive connections (see `RawConn`).
    let parsed = url::Url::parse(&url).unwrap();
    let host = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port_or_known_default().unwrap()
    );
    let body = serde_json::to_vec(&body).unwrap();
    // The digest and the body are printed too, so that another load generator (shared.sh runs
    // wrk) can send exactly these requests.
    let body_text = String::from_utf8(body.clone()).unwrap();
    let mut logs_request = format!(
        "POST {}v1/fetch/logs HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        parsed.path(),
        body.len()
    )
    .into_bytes();
    logs_request.extend(body);
    let fetch_logs_raw =
        raw_load(host.clone(), logs_request, 64, Duration::from_secs(seconds)).await;
    let content_request = format!(
        "GET {}v1/content/{digest} HTTP/1.1\r\nHost: {host}\r\n\r\n",
        parsed.path()
    )
    .into_bytes();
    let content_raw = raw_load(host, content_request, 64, Duration::from_secs(seconds)).await;

    println!(
        "{}",
        serde_json::json!({
            "url": url,
            "publish_ms": { "p50": percentile(&latencies, 0.5), "max": percentile(&latencies, 1.0), "count": latencies.len() },
            "publish_18mb_ms": upload.as_secs_f64() * 1000.0,
            "download_mb_per_s": downloads,
            "fetch_logs": fetch_logs,
            "content_sources": content,
            "client_ceiling": client_ceiling,
            "fetch_logs_raw": fetch_logs_raw,
            "content_sources_raw": content_raw,
            "content_digest": digest.to_string(),
            "package_log_id": log_id,
            "fetch_logs_body": body_text,
        })
    );
}
