//! What both benchmark drivers share: latency percentiles, and a minimal keep-alive HTTP/1.1
//! client for read loads (included with `#[path]`, since examples cannot share a module).

use std::time::{Duration, Instant};

pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Joins load workers, each returning its latencies and error count, into requests per second,
/// p50 and p99 latency and errors.
pub async fn summarize(
    workers: impl Iterator<Item = tokio::task::JoinHandle<(Vec<Duration>, u64)>>,
    duration: Duration,
) -> serde_json::Value {
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
pub struct RawConn {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    pub async fn connect(addr: &str) -> std::io::Result<Self> {
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
    pub async fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
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
pub async fn raw_load(
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
    summarize(workers, duration).await
}
