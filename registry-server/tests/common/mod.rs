//! Shared test support: real registries (CLI-initialised data dirs, in-process or spawned
//! servers) and real warg clients.
#![allow(dead_code)]

use anyhow::{bail, Context, Result};
use futures_util::stream;
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};
use warg_client::{
    storage::{
        ContentStorage, FileSystemContentStorage, FileSystemNamespaceMapStorage,
        FileSystemRegistryStorage, PublishEntry, PublishInfo,
    },
    Client, FileSystemClient,
};
use warg_crypto::{hash::AnyHash, signing::PrivateKey};
use warg_protocol::registry::{PackageName, RecordId};
use wtool_registry::{
    config::{Config, Overrides},
    server::RunningServer,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_wtool-registry");

/// Runs the real binary and returns its stdout; fails with its stderr.
pub fn run_bin(args: &[&str]) -> Result<String> {
    let out = Command::new(BIN).args(args).output()?;
    if !out.status.success() {
        bail!(
            "`wtool-registry {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// A data directory initialised with `wtool-registry init`.
pub fn init_registry(namespaces: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut args = vec!["init", "--data-dir", data.to_str().unwrap()];
    for ns in namespaces {
        args.push("--namespace");
        args.push(ns);
    }
    run_bin(&args).unwrap();
    dir
}

pub fn data_dir(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data")
}

pub fn create_token(dir: &tempfile::TempDir, namespace: &str) -> String {
    let data = data_dir(dir);
    run_bin(&[
        "token",
        "create",
        "--namespace",
        namespace,
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .unwrap()
    .trim()
    .to_string()
}

pub fn load_config(dir: &tempfile::TempDir, listen: &str, anonymous: bool) -> Config {
    let data = data_dir(dir);
    let mut config = Config::load(&data.join("wtool-registry.toml")).unwrap();
    config.apply(Overrides {
        listen: Some(listen.to_string()),
        allow_anonymous_publish: anonymous,
        ..Default::default()
    });
    config
}

/// Starts an in-process server on the given address (`127.0.0.1:0` for any port).
pub async fn start(dir: &tempfile::TempDir, listen: &str) -> RunningServer {
    RunningServer::start(load_config(dir, listen, false))
        .await
        .unwrap()
}

pub fn client(url: &str, cache: &Path, token: Option<&str>) -> FileSystemClient {
    Client::new(
        url,
        FileSystemRegistryStorage::lock(cache.join("registries")).unwrap(),
        FileSystemContentStorage::lock(cache.join("content")).unwrap(),
        FileSystemNamespaceMapStorage::new(cache.join("namespaces")),
        token.map(|t| secrecy::Secret::new(t.to_string())),
        false,
        true,
        false,
        true,
        None,
        Default::default(),
    )
    .unwrap()
}

/// A small valid component whose bytes differ for each `n`.
pub fn component(n: u32) -> Vec<u8> {
    wat::parse_str(format!(
        "(component (core module (func (export \"f\") i32.const {n} drop)))"
    ))
    .unwrap()
}

/// A valid component of roughly `size` bytes (one core module with one data segment), built
/// by hand so large test inputs cost no WAT parsing.
pub fn sized_component(size: usize, salt: u8) -> Vec<u8> {
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
    let data: Vec<u8> = (0..size).map(|i| (i as u8) ^ salt).collect();
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    let mut mem = vec![1, 0];
    uleb(size / 65536 + 1, &mut mem);
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

pub async fn store_content(client: &FileSystemClient, bytes: Vec<u8>) -> AnyHash {
    let s = stream::once(async move { Ok::<_, anyhow::Error>(bytes::Bytes::from(bytes)) });
    client
        .content()
        .store_content(Box::pin(s), None)
        .await
        .unwrap()
}

pub fn name(s: &str) -> PackageName {
    PackageName::new(s).unwrap()
}

pub fn new_key() -> PrivateKey {
    warg_crypto::signing::generate_p256_pair().1
}

/// Publishes entries and waits until the registry reports them published (which includes the
/// client's own fetch, checkpoint and proof verification).
pub async fn publish(
    client: &FileSystemClient,
    key: &PrivateKey,
    package: &PackageName,
    entries: Vec<PublishEntry>,
) -> Result<RecordId> {
    let record_id = client
        .publish_with_info(
            key,
            PublishInfo {
                name: package.clone(),
                head: None,
                entries,
            },
        )
        .await?;
    client
        .wait_for_publish(package, &record_id, Duration::from_millis(20))
        .await?;
    Ok(record_id)
}

pub async fn release(
    client: &FileSystemClient,
    key: &PrivateKey,
    package: &PackageName,
    version: &str,
    bytes: Vec<u8>,
    init: bool,
) -> Result<RecordId> {
    let content = store_content(client, bytes).await;
    let mut entries = Vec::new();
    if init {
        entries.push(PublishEntry::Init);
    }
    entries.push(PublishEntry::Release {
        version: version.parse().unwrap(),
        content,
    });
    publish(client, key, package, entries).await
}

/// A server running as a child process (for crash tests).
pub struct Spawned {
    pub child: Child,
    pub url: String,
}

pub fn spawn_server(dir: &tempfile::TempDir, listen: &str, extra: &[&str]) -> Result<Spawned> {
    let data = data_dir(dir);
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            listen,
        ])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected server output `{line}`"))?
        .to_string();
    Ok(Spawned { child, url })
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
