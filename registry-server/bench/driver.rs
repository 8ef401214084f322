//! Benchmark driver (run by `bench.sh`, not a test): measures one warg registry at a URL with
//! the real warg client and raw HTTP, and prints one JSON object.
//!
//! Usage: `bench <registry url> <token or -> <namespace>`.

use futures_util::{stream, StreamExt};
use std::time::{Duration, Instant};
use warg_client::{
    storage::{
        ContentStorage, FileSystemContentStorage, FileSystemNamespaceMapStorage,
        FileSystemRegistryStorage, PublishEntry, PublishInfo,
    },
    Client, FileSystemClient,
};
use warg_crypto::hash::{AnyHash, Sha256};
use warg_protocol::registry::{LogId, PackageName};

fn uleb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A valid component of about `size` bytes: one core module with one large data segment.
fn big_component(size: usize, salt: u8) -> Vec<u8> {
    let data: Vec<u8> = (0..size).map(|i| (i as u8) ^ salt).collect();
    let pages = size / 65536 + 1;
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    let mut mem = vec![1, 0];
    uleb(pages, &mut mem);
    module.push(5);
    uleb(mem.len(), &mut module);
    module.extend(mem);
    let mut seg = vec![1, 0, 0x41, 0, 0x0b];
    uleb(data.len(), &mut seg);
    seg.extend(&data);
    module.push(11);
    uleb(seg.len(), &mut module);
    module.extend(seg);
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    component.push(1);
    uleb(module.len(), &mut component);
    component.extend(module);
    component
}

async fn store(client: &FileSystemClient, bytes: Vec<u8>) -> AnyHash {
    let s = stream::once(async move { Ok::<_, anyhow::Error>(bytes::Bytes::from(bytes)) });
    client
        .content()
        .store_content(Box::pin(s), None)
        .await
        .unwrap()
}

async fn publish(
    client: &FileSystemClient,
    key: &warg_crypto::signing::PrivateKey,
    name: &PackageName,
    entries: Vec<PublishEntry>,
) -> Duration {
    let started = Instant::now();
    let id = client
        .publish_with_info(
            key,
            PublishInfo {
                name: name.clone(),
                head: None,
                entries,
            },
        )
        .await
        .unwrap();
    client
        .wait_for_publish(name, &id, Duration::from_millis(10))
        .await
        .unwrap();
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
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
    let mut all = Vec::new();
    let mut errors = 0;
    for w in futures_util::future::join_all(workers).await {
        let (l, e) = w.unwrap();
        all.extend(l);
        errors += e;
    }
    all.sort();
    serde_json::json!({
        "requests_per_second": all.len() as f64 / duration.as_secs_f64(),
        "p50_ms": percentile(&all, 0.5),
        "p99_ms": percentile(&all, 0.99),
        "errors": errors,
    })
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
    let client = Client::new(
        url.as_str(),
        FileSystemRegistryStorage::lock(cache.path().join("r")).unwrap(),
        FileSystemContentStorage::lock(cache.path().join("c")).unwrap(),
        FileSystemNamespaceMapStorage::new(cache.path().join("n")),
        token.map(secrecy::Secret::new),
        false,
        true,
        false,
        true,
        None,
        Default::default(),
    )
    .unwrap();
    let key = warg_crypto::signing::generate_p256_pair().1;
    let run = std::process::id();
    let name = PackageName::new(format!("{namespace}:bench{run}")).unwrap();

    // Publish latency: each release is a full client publish (fetch, submit, upload, wait).
    let mut latencies = Vec::new();
    for i in 0..publishes {
        let content = store(&client, big_component(1000 + i, i as u8)).await;
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
    let big = big_component(big_mb * 1024 * 1024, 7);
    let big_len = big.len();
    let digest = store(&client, big).await;
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
    let body = serde_json::json!({"logLength": log_length, "packages": {log_id: null}});
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

    println!(
        "{}",
        serde_json::json!({
            "url": url,
            "publish_ms": { "p50": percentile(&latencies, 0.5), "max": percentile(&latencies, 1.0), "count": latencies.len() },
            "publish_18mb_ms": upload.as_secs_f64() * 1000.0,
            "download_mb_per_s": downloads,
            "fetch_logs": fetch_logs,
            "content_sources": content,
        })
    );
}
