//! The real warg client (0.10) against a registry: what a third-party publisher does.

use anyhow::Result;
use futures_util::stream;
use std::path::Path;
use std::time::Duration;
use warg_client::storage::{
    ContentStorage, FileSystemContentStorage, FileSystemNamespaceMapStorage,
    FileSystemRegistryStorage, PublishEntry, PublishInfo,
};
use warg_client::{Client, FileSystemClient};
use warg_crypto::{hash::AnyHash, signing::PrivateKey};
use warg_protocol::registry::{PackageName, RecordId};

/// A warg client for `url` with its state in `cache`, and a token if given.
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

pub fn name(s: &str) -> PackageName {
    PackageName::new(s).unwrap()
}

pub fn new_key() -> PrivateKey {
    warg_crypto::signing::generate_p256_pair().1
}

/// Stores content in the client's content store (for a later release record).
pub async fn store_content(client: &FileSystemClient, bytes: Vec<u8>) -> AnyHash {
    let s = stream::once(async move { Ok::<_, anyhow::Error>(bytes::Bytes::from(bytes)) });
    client
        .content()
        .store_content(Box::pin(s), None)
        .await
        .unwrap()
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
        .wait_for_publish(package, &record_id, Duration::from_millis(10))
        .await?;
    Ok(record_id)
}

/// Publishes one release (with the package's init record when `init`).
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
