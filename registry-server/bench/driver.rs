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

/// A minimal keep-alive HTTP/1.1 connection for the read-load phase: it spends far less CPU
/// per request than reqwest, so on a small machine the load generator does not starve the
/// server it measures. Both servers are measured with the same client.
struct RawConn {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    async fn connect(addr: &str) -> std::io::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Sends `request` and reads the whole response; returns the status code.
    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(request).await?;
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or(std::io::ErrorKind::InvalidData)?;
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        if let Some(len) = header("content-length:") {
            let len: usize = len.parse().map_err(|_| std::io::ErrorKind::InvalidData)?;
            while self.buf.len() < head_end + len {
                self.fill().await?;
            }
            self.buf.drain(..head_end + len);
        } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
            let mut at = head_end;
            loop {
                let line_end = loop {
                    if let Some(i) = self.buf[at..].windows(2).position(|w| w == b"\r\n") {
                        break at + i;
                    }
                    self.fill().await?;
                };
                let size = usize::from_str_radix(
                    String::from_utf8_lossy(&self.buf[at..line_end])
                        .split(';')
                        .next()
                        .unwrap_or("")
                        .trim(),
                    16,
                )
                .map_err(|_| std::io::ErrorKind::InvalidData)?;
                let next = line_end + 2 + size + 2;
                while self.buf.len() < next {
                    self.fill().await?;
                }
                at = next;
                if size == 0 {
                    break;
                }
            }
            self.buf.drain(..at);
        } else {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        Ok(status)
    }
}

/// Like [`load`], over [`RawConn`]s: `concurrency` connections each send `request` in a loop.
async fn raw_load(
    addr: String,
    request: Vec<u8>,
    concurrency: usize,
    duration: Duration,
) -> serde_json::Value {
    let request = std::sync::Arc::new(request);
    let deadline = Instant::now() + duration;
    let workers = (0..concurrency).map(|_| {
        let (addr, request) = (addr.clone(), request.clone());
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut conn = None;
            while Instant::now() < deadline {
                if conn.is_none() {
                    conn = RawConn::connect(&addr).await.ok();
                    if conn.is_none() {
                        errors += 1;
                        continue;
                    }
                }
                let t = Instant::now();
                match conn.as_mut().unwrap().exchange(&request).await {
                    Ok(200) => lat.push(t.elapsed()),
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        conn = None;
                    }
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
        })
    );
}
