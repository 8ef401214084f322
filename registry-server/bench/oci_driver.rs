//! OCI benchmark driver (run by `bench/oci.sh`, not a test): pushes a component through
//! oci-client, the client wkg uses, then loads the registry's `/v2/` API, and prints one JSON
//! object. The same driver measures every server.
//!
//! Usage: `oci_bench <host:port> <repository> <token or -> <component.wasm>`.

use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};
use std::time::{Duration, Instant};

#[path = "raw.rs"]
mod raw;
use raw::{percentile, raw_load};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The component with a custom section that makes each push's layer new to the registry.
fn variant(component: &[u8], i: usize) -> Vec<u8> {
    use wasm_encoder::Encode;
    let section = wasm_encoder::CustomSection {
        name: "wtool-bench".into(),
        data: i.to_le_bytes().to_vec().into(),
    };
    let mut out = component.to_vec();
    out.push(0); // the custom section's id
    section.encode(&mut out);
    out
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let host = args.get(1).expect("registry host:port").clone();
    let repo = args.get(2).expect("repository").clone();
    let token = args.get(3).filter(|t| t.as_str() != "-").cloned();
    let component = std::fs::read(args.get(4).expect("component file")).unwrap();
    let pushes: usize = env_or("BENCH_PUSHES", 3);
    let seconds = Duration::from_secs(env_or("BENCH_SECONDS", 10));

    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let auth = match &token {
        Some(t) => RegistryAuth::Basic("bench".into(), t.clone()),
        None => RegistryAuth::Anonymous,
    };
    let mut push_ms = Vec::new();
    let mut layer_digest = String::new();
    for i in 0..pushes {
        let layer = variant(&component, i);
        layer_digest = format!("sha256:{:x}", Sha256::digest(&layer));
        let config = serde_json::json!({
            "created": "2026-12-02T00:00:00Z",
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [layer_digest],
        });
        let reference: Reference = format!("{host}/{repo}:1.0.{i}").parse().unwrap();
        let started = Instant::now();
        client
            .push(
                &reference,
                &[ImageLayer::new(layer, "application/wasm".into(), None)],
                Config::new(
                    serde_json::to_vec(&config).unwrap(),
                    "application/vnd.wasm.config.v0+json".into(),
                    None,
                ),
                &auth,
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("push to {reference}: {e}"));
        push_ms.push(started.elapsed());
    }
    // The first push brings code the registry has not seen; the later ones are releases that
    // keep it (they differ in a custom section).
    let first_push = push_ms.first().copied().unwrap_or_default();
    let later = push_ms.split_off(1.min(push_ms.len()));
    let mut releases = later;
    releases.sort();

    // Reads are anonymous, as most pulls are.
    let http = reqwest::Client::new();
    let blob_url = format!("http://{host}/v2/{repo}/blobs/{layer_digest}");
    let deadline = Instant::now() + seconds;
    let pullers = (0..16).map(|_| {
        let (http, url) = (http.clone(), blob_url.clone());
        tokio::spawn(async move {
            let (mut bytes, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        let mut body = r.bytes_stream();
                        while let Some(chunk) = body.next().await {
                            match chunk {
                                Ok(c) => bytes += c.len() as u64,
                                Err(_) => errors += 1,
                            }
                        }
                    }
                    _ => errors += 1,
                }
            }
            (bytes, errors)
        })
    });
    let (mut pulled, mut pull_errors) = (0u64, 0u64);
    for p in futures_util::future::join_all(pullers).await {
        let (b, e) = p.unwrap();
        pulled += b;
        pull_errors += e;
    }

    let request = |path: String, accept: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\n\r\n").into_bytes()
    };
    let manifests = raw_load(
        host.clone(),
        request(
            format!("/v2/{repo}/manifests/1.0.0"),
            "application/vnd.oci.image.manifest.v1+json",
        ),
        64,
        seconds,
    )
    .await;
    let tags = raw_load(
        host.clone(),
        request(format!("/v2/{repo}/tags/list"), "application/json"),
        64,
        seconds,
    )
    .await;

    println!(
        "{}",
        serde_json::json!({
            "push_ms": {
                "first": first_push.as_secs_f64() * 1e3,
                "p50": percentile(&releases, 0.5),
                "min": percentile(&releases, 0.0),
                "max": percentile(&releases, 1.0),
                "count": releases.len(),
                "bytes": component.len(),
            },
            "blob_pull_16": {
                "mb_per_second": pulled as f64 / 1e6 / seconds.as_secs_f64(),
                "errors": pull_errors,
            },
            "manifest_get_64": manifests,
            "tags_list_64": tags,
        })
    );
}
