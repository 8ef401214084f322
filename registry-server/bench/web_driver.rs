//! Package browser benchmark driver (run by `web.sh`, not a test): seeds a registry with many
//! WIT packages through the real warg client, then reads its pages and prints one JSON object
//! with the server's own time per page (from `Server-Timing`) and the round trip.
//!
//! Usage: `web_bench <registry url> <token> <namespace>`. `BENCH_PACKAGES` (default 1000) sets
//! how many packages are published, `BENCH_REQUESTS` (default 200) how often each page is read.

use std::time::Instant;
use wasm_metadata::{AddMetadata, AddMetadataField, Description, Licenses, Source};
use wtool_testkit::warg;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A binary WIT package `ns:pkgNNNN@version` whose interface `api` uses a type of its own, with
/// the metadata a page shows.
fn package(namespace: &str, i: usize, version: &str) -> Vec<u8> {
    let source = format!(
        "package {namespace}:pkg{i:04}@{version};\n\n\
         /// Operations of package {i}.\n\
         interface api {{\n\
         \x20   record item {{ id: u64, label: string }}\n\
         \x20   get: func(id: u64) -> option<item>;\n\
         \x20   put: func(item: item);\n\
         }}\n\n\
         world provider {{\n\
         \x20   export api;\n\
         }}\n"
    );
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve.push_str("main.wit", &source).unwrap();
    let bytes = wit_component::encode(&resolve, pkg).unwrap();
    let mut metadata = AddMetadata::default();
    metadata.description =
        AddMetadataField::Set(Description::new(format!("Benchmark package number {i}")));
    metadata.licenses = AddMetadataField::Set(Licenses::new("Apache-2.0").unwrap());
    metadata.source = AddMetadataField::Set(Source::new("https://example.com/src").unwrap());
    metadata.to_wasm(&bytes).unwrap()
}

/// Versions of package `i`: every 50th has twelve (so its version list is long), the rest one.
fn versions(i: usize) -> Vec<String> {
    let n = if i.is_multiple_of(50) { 12 } else { 1 };
    (0..n).map(|v| format!("1.{v}.0")).collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at]
}

/// The server's own time for a page, from `Server-Timing: page;desc="…";dur=MS`.
fn server_ms(res: &reqwest::Response) -> (f64, bool) {
    let value = res
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{} has no Server-Timing header", res.url()));
    let ms = value
        .rsplit("dur=")
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or(f64::NAN);
    (ms, value.contains("\"cached\""))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("registry url").clone();
    let token = args.get(2).expect("token").clone();
    let namespace = args.get(3).cloned().unwrap_or_else(|| "example".into());
    let packages = env_or("BENCH_PACKAGES", 1000);
    let requests = env_or("BENCH_REQUESTS", 200);
    let workers = env_or("BENCH_WORKERS", 8);

    // Seed: `workers` publishers, each with its own client state and key.
    let seeding = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (url, token, namespace) = (url.clone(), token.clone(), namespace.clone());
            tokio::spawn(async move {
                let cache = tempfile::tempdir().unwrap();
                let client = warg::client(&url, cache.path(), Some(&token));
                let key = warg::new_key();
                let mut records = 0;
                for i in (w..packages).step_by(workers) {
                    let name = warg::name(&format!("{namespace}:pkg{i:04}"));
                    for (n, version) in versions(i).iter().enumerate() {
                        let bytes = package(&namespace, i, version);
                        warg::release(&client, &key, &name, version, bytes, n == 0)
                            .await
                            .unwrap_or_else(|e| panic!("publishing {name}@{version}: {e:#}"));
                        records += 1;
                    }
                }
                records
            })
        })
        .collect();
    let mut records = 0;
    for t in tasks {
        records += t.await.unwrap();
    }
    let seed_s = seeding.elapsed().as_secs_f64();

    let http = reqwest::Client::new();
    let mid = packages / 2;
    let many = 0; // package 0 has twelve versions
    let pages = [
        ("index", "/".to_string()),
        ("index, page 10", "/?page=10".to_string()),
        ("search by name", format!("/?q=pkg{mid:04}")),
        (
            "search by interface",
            format!("/?q={namespace}:pkg{mid:04}/api"),
        ),
        ("package", format!("/{namespace}:pkg{mid:04}")),
        ("package, 12 versions", format!("/{namespace}:pkg{many:04}")),
        ("version (WIT)", format!("/{namespace}:pkg{mid:04}@1.0.0")),
        ("log", "/log".to_string()),
        ("404 with suggestion", format!("/{namespace}:pkgg{mid:04}")),
    ];
    let base = url.trim_end_matches('/');
    let mut rows = Vec::new();
    for (label, path) in pages {
        for (format, accept) in [("html", "text/html"), ("json", "application/json")] {
            let get = || {
                http.get(format!("{base}{path}"))
                    .header("accept", accept)
                    .bearer_auth(&token)
                    .send()
            };
            let res = get().await.unwrap();
            let status = res.status().as_u16();
            let (first_ms, first_cached) = server_ms(&res);
            let size = res.bytes().await.unwrap().len();
            let mut server = Vec::new();
            let mut round_trip = Vec::new();
            let mut uncached = 0;
            for _ in 0..requests {
                let started = Instant::now();
                let res = get().await.unwrap();
                let (ms, cached) = server_ms(&res);
                res.bytes().await.unwrap();
                round_trip.push(started.elapsed().as_secs_f64() * 1000.0);
                server.push(ms);
                uncached += usize::from(!cached);
            }
            server.sort_by(f64::total_cmp);
            round_trip.sort_by(f64::total_cmp);
            rows.push(serde_json::json!({
                "page": label,
                "path": path,
                "format": format,
                "status": status,
                "bytes": size,
                "first_server_ms": first_ms,
                "first_was_cached": first_cached,
                "cached_server_p50_ms": percentile(&server, 0.5),
                "cached_server_p99_ms": percentile(&server, 0.99),
                "round_trip_p50_ms": percentile(&round_trip, 0.5),
                "round_trip_p99_ms": percentile(&round_trip, 0.99),
                "uncached_repeats": uncached,
            }));
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "packages": packages,
            "records": records,
            "seed_seconds": seed_s,
            "requests_per_page": requests,
            "pages": rows,
        })
    );
}
