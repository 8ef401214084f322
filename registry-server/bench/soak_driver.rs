//! Soak driver (run by `soak.sh`, not a test): 64 readers mixing warg `fetch/logs`, content
//! downloads and OCI manifest and blob reads, and 4 publishers releasing new versions through
//! the real warg client, for `BENCH_SECONDS`. The script kills and restarts the server in the
//! middle; the driver only counts. Every failure is kept with its time, so the script can tell
//! the restart windows from the rest. At the end every acknowledged release is looked up
//! through a fresh client. Prints one JSON object.
//!
//! Usage: `soak <registry url> <token> <namespace>`.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use warg_client::storage::PublishEntry;
use wtool_testkit::{component::sized_component, warg};

#[derive(Default)]
struct Tally {
    /// Milliseconds since the start, and what failed.
    errors: Vec<(u64, String)>,
    /// Per second since the start: requests answered.
    per_second: Vec<u64>,
    latencies_ms: Vec<f64>,
    /// Releases the registry acknowledged: package and version.
    acked: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Tally>>;

fn since(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

fn answered(tally: &Shared, start: Instant, took: Duration) {
    let mut t = tally.lock().unwrap();
    let second = start.elapsed().as_secs() as usize;
    if t.per_second.len() <= second {
        t.per_second.resize(second + 1, 0);
    }
    t.per_second[second] += 1;
    t.latencies_ms.push(took.as_secs_f64() * 1000.0);
}

fn failed(tally: &Shared, start: Instant, what: String) {
    tally.lock().unwrap().errors.push((since(start), what));
}

/// One read of the mix; `Err` says what failed.
async fn read(
    http: &reqwest::Client,
    base: &str,
    kind: usize,
    logs_body: &serde_json::Value,
    content: &str,
    repo: &str,
) -> Result<(), String> {
    let (what, request) = match kind % 4 {
        0 => (
            "fetch/logs",
            http.post(format!("{base}v1/fetch/logs")).json(logs_body),
        ),
        1 => ("content", http.get(format!("{base}v1/content/{content}"))),
        2 => (
            "oci manifest",
            http.get(format!("{base}v2/{repo}/manifests/0.1.0"))
                .header("accept", "application/vnd.oci.image.manifest.v1+json"),
        ),
        _ => ("oci tags", http.get(format!("{base}v2/{repo}/tags/list"))),
    };
    let res = request.send().await.map_err(|e| format!("{what}: {e}"))?;
    let status = res.status();
    let body = res.bytes().await.map_err(|e| format!("{what}: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "{what}: {status} {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("registry url").clone();
    let token = args.get(2).expect("token").clone();
    let namespace = args.get(3).cloned().unwrap_or_else(|| "example".into());
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);

    // Something to read before the clock starts: one package, readable over warg and OCI.
    let cache = tempfile::tempdir().unwrap();
    let setup = warg::client(&url, cache.path(), Some(&token));
    let key = warg::new_key();
    let base_pkg = warg::name(&format!("{namespace}:soak-read"));
    warg::release(
        &setup,
        &key,
        &base_pkg,
        "0.1.0",
        sized_component(64 * 1024, 1),
        true,
    )
    .await
    .expect("the first release");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let info = setup.fetch_package(&base_pkg).await.unwrap();
    let content = info
        .state
        .releases()
        .next()
        .and_then(|r| r.content().cloned())
        .unwrap()
        .to_string();
    let checkpoint: serde_json::Value = http
        .get(format!("{url}v1/fetch/checkpoint"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let log_id =
        warg_protocol::registry::LogId::package_log::<warg_crypto::hash::Sha256>(&base_pkg)
            .to_string();
    let logs_body = serde_json::json!({
        "logLength": checkpoint["contents"]["logLength"],
        "packages": {log_id: null},
    });
    let repo = format!("{namespace}/soak-read");

    let tally: Shared = Arc::default();
    let start = Instant::now();
    let started_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for reader in 0..64usize {
        let (http, base, tally) = (http.clone(), url.clone(), tally.clone());
        let (logs_body, content, repo) = (logs_body.clone(), content.clone(), repo.clone());
        tasks.push(tokio::spawn(async move {
            let mut kind = reader;
            while Instant::now() < deadline {
                let t = Instant::now();
                match read(&http, &base, kind, &logs_body, &content, &repo).await {
                    Ok(()) => answered(&tally, start, t.elapsed()),
                    Err(e) => {
                        failed(&tally, start, e);
                        // A server that is away refuses at once: do not spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                kind += 1;
            }
        }));
    }
    for publisher in 0..4usize {
        let (url, token, tally, namespace) =
            (url.clone(), token.clone(), tally.clone(), namespace.clone());
        tasks.push(tokio::spawn(async move {
            let cache = tempfile::tempdir().unwrap();
            let client = warg::client(&url, cache.path(), Some(&token));
            let key = warg::new_key();
            let name = warg::name(&format!("{namespace}:soak-publish{publisher}"));
            let mut initialised = false;
            let mut minor = 0;
            while Instant::now() < deadline {
                let version = format!("1.{minor}.0");
                let bytes = sized_component(2048 + minor, publisher as u8);
                let content = warg::store_content(&client, bytes).await;
                let mut entries = Vec::new();
                if !initialised {
                    entries.push(PublishEntry::Init);
                }
                entries.push(PublishEntry::Release {
                    version: version.parse().unwrap(),
                    content,
                });
                let t = Instant::now();
                match warg::publish(&client, &key, &name, entries).await {
                    Ok(_) => {
                        answered(&tally, start, t.elapsed());
                        initialised = true;
                        minor += 1;
                        tally
                            .lock()
                            .unwrap()
                            .acked
                            .push((name.to_string(), version));
                    }
                    Err(e) => {
                        failed(&tally, start, format!("publish {name}@{version}: {e:#}"));
                        // A record the server committed but could not acknowledge (it was
                        // killed) is in the log: go on from what the registry holds.
                        if let Ok(info) = client.fetch_package(&name).await {
                            initialised = true;
                            if info.state.release(&version.parse().unwrap()).is_some() {
                                minor += 1;
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    // Every acknowledged release is there, for a client that never saw any of it.
    let acked = tally.lock().unwrap().acked.clone();
    let fresh_cache = tempfile::tempdir().unwrap();
    let fresh = warg::client(&url, fresh_cache.path(), None);
    let mut missing = Vec::new();
    for (name, version) in &acked {
        let pkg = warg::name(name);
        let info = match fresh.fetch_package(&pkg).await {
            Ok(info) => info,
            Err(e) => {
                missing.push(format!("{name}: {e}"));
                continue;
            }
        };
        let v: semver::Version = version.parse().unwrap();
        if info.state.release(&v).is_none() {
            missing.push(format!("{name}@{version}"));
        }
    }

    let t = tally.lock().unwrap();
    let mut latencies = t.latencies_ms.clone();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if latencies.is_empty() {
            0.0
        } else {
            latencies[((latencies.len() - 1) as f64 * p).round() as usize]
        }
    };
    println!(
        "{}",
        serde_json::json!({
            "seconds": seconds,
            "started_unix_ms": started_unix_ms,
            "requests": latencies.len(),
            "requests_per_second": latencies.len() as f64 / seconds as f64,
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "per_second": t.per_second,
            "errors": t.errors,
            "acknowledged_publishes": acked.len(),
            "missing_after": missing,
        })
    );
}
