//! A warg registry through `warg-client` 0.10, which fetches and verifies the registry's
//! checkpoints, log records and inclusion proofs itself. Its content store is wtool's own
//! cache, so blobs are stored once and uploads can report progress.

use super::{Backend, Published};
use crate::cache::{RegistryCache, Release};
use crate::digest::Digest;
use crate::exit::{coded, Code};
use crate::progress::Transfer;
use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use semver::Version;
use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warg_client::storage::{
    ContentStorage, FileSystemNamespaceMapStorage, PackageInfo, PublishEntry, PublishInfo,
};
use warg_client::{Client, ClientError};
use warg_crypto::hash::AnyHash;
use warg_crypto::signing::PrivateKey;
use warg_protocol::registry::{PackageName, RecordId};
use wasm_pkg_common::package::PackageRef;

mod state;

type WargClient = Client<state::StateStorage, CacheContent, FileSystemNamespaceMapStorage>;

pub struct WargBackend {
    /// warg-client updates its state in several steps (the checkpoint, then each log), and two
    /// updates at once in one process would interleave them, so storage-touching calls take
    /// turns; content transfers still overlap.
    storage: tokio::sync::Mutex<()>,
    name: String,
    has_token: bool,
    client: WargClient,
    content: CacheContent,
    /// Package logs fetched together by `prefetch` in this run, read by `releases`.
    prefetched: Mutex<HashMap<String, PackageInfo>>,
}

impl WargBackend {
    pub fn new(name: &str, url: &str, cache: RegistryCache, token: Option<String>) -> Result<Self> {
        let state = cache.root().join("warg");
        let registry = state::StateStorage::lock(state.join("registries"))
            .with_context(|| format!("cannot open the warg state in `{}`", state.display()))?;
        let content = CacheContent {
            cache,
            progress: Default::default(),
        };
        let has_token = token.is_some();
        let client = Client::new(
            url,
            registry,
            content.clone(),
            FileSystemNamespaceMapStorage::new(state.join("namespaces")),
            token.map(secrecy::Secret::new),
            false,
            true,
            false,
            true,
            None,
            Default::default(),
        )
        .map_err(|e| anyhow!("registry `{name}` at {url}: {e}"))?;
        Ok(Self {
            storage: Default::default(),
            name: name.to_string(),
            has_token,
            client,
            content,
            prefetched: Default::default(),
        })
    }

    /// Signs one record of `entry` on top of the package's head, submits it and waits until the
    /// registry has published it.
    async fn sign_and_wait(
        &self,
        package: &PackageRef,
        key: &PrivateKey,
        entry: PublishEntry,
        progress: Option<&Transfer>,
    ) -> Result<RecordId> {
        let name = warg_name(package)?;
        let info = PublishInfo {
            name: name.clone(),
            head: None,
            entries: vec![entry],
        };
        let record = self
            .client
            .publish_with_info(key, info)
            .await
            .map_err(|e| self.explain(package, e))?;
        if let Some(progress) = progress {
            progress.finish();
        }
        self.client
            .wait_for_publish(&name, &record, Duration::from_millis(25))
            .await
            .map_err(|e| self.explain(package, e))?;
        Ok(record)
    }

    fn explain(&self, package: &PackageRef, e: ClientError) -> anyhow::Error {
        let code = code_of(&e);
        let hint = match &e {
            ClientError::Unauthorized(_) if !self.has_token => format!(
                "; set {} to a publish token for this registry",
                crate::config::token_env_var(&self.name)
            ),
            ClientError::Unauthorized(_) => {
                "; the token was refused: check that it covers this namespace".into()
            }
            _ => String::new(),
        };
        let message = anyhow!("registry `{}`, package `{package}`: {e}{hint}", self.name);
        coded(code, message)
    }
}

/// What a warg-client error means for the exit code.
fn code_of(e: &ClientError) -> Code {
    use warg_client::api::ClientError as Api;
    match e {
        ClientError::Unauthorized(_) => Code::AuthRefused,
        ClientError::Api(Api::UnexpectedResponse { status, .. })
            if status.as_u16() == 401 || status.as_u16() == 403 =>
        {
            Code::AuthRefused
        }
        ClientError::Api(Api::Communication(_)) => Code::Unreachable,
        ClientError::InvalidCheckpointSignature
        | ClientError::InvalidCheckpointKeyId { .. }
        | ClientError::OperatorValidationFailed { .. }
        | ClientError::PackageValidationFailed { .. }
        | ClientError::IncorrectContent { .. }
        | ClientError::CheckpointLogLengthRewind { .. }
        | ClientError::CheckpointChangedLogRootOrMapRoot { .. }
        // A registry that cannot prove what it serves is not believed, whichever side found out.
        | ClientError::Api(
            Api::IncorrectConsistencyProof { .. }
            | Api::Proof(_)
            | Api::Hash(_)
            | Api::ConsistencyProof(_)
            | Api::InclusionProof(_),
        ) => Code::Verification,
        _ => Code::Failure,
    }
}

fn warg_name(package: &PackageRef) -> Result<PackageName> {
    PackageName::new(package.to_string())
        .map_err(|e| anyhow!("`{package}` is not a valid warg package name: {e}"))
}

fn any_hash(digest: &Digest) -> AnyHash {
    digest
        .to_string()
        .parse()
        .expect("sha256 digests are AnyHash")
}

#[async_trait::async_trait]
impl Backend for WargBackend {
    async fn prefetch(&self, packages: &[PackageRef]) {
        let mut names: Vec<PackageName> =
            packages.iter().filter_map(|p| warg_name(p).ok()).collect();
        names.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
        names.dedup();
        if names.len() < 2 {
            return;
        }
        // One checkpoint and one `fetch/logs` exchange for all of them, instead of one each.
        let fetched = {
            let _turn = self.storage.lock().await;
            self.client.fetch_packages(names.iter()).await
        };
        match fetched {
            Ok(infos) => {
                let mut prefetched = self.prefetched.lock().unwrap();
                for info in infos {
                    prefetched.insert(info.name.to_string(), info);
                }
            }
            // An unknown package fails the whole batch; each is then asked for alone, and
            // that answer names the culprit.
            Err(e) => tracing::debug!("registry `{}`: batched log fetch failed: {e}", self.name),
        }
    }

    async fn releases(&self, package: &PackageRef) -> Result<Option<Vec<Release>>> {
        let name = warg_name(package)?;
        // Two requirements on one package (two major versions) read the same log.
        // An empty log is asked for again alone, so that a missing package reads as missing.
        let prefetched = (self.prefetched.lock().unwrap().get(name.as_ref()).cloned())
            .filter(|info| info.state.head().is_some());
        let fetched = match prefetched {
            Some(info) => Ok(info),
            None => {
                let _turn = self.storage.lock().await;
                self.client.fetch_package(&name).await
            }
        };
        let info = match fetched {
            Ok(info) => info,
            Err(ClientError::PackageDoesNotExist { .. }) => return Ok(None),
            Err(e) => return Err(self.explain(package, e)),
        };
        let releases = info
            .state
            .releases()
            .map(|r| Release {
                version: r.version.clone(),
                digest: r
                    .content()
                    .map(|h| h.to_string().parse())
                    .transpose()
                    .ok()
                    .flatten(),
                yanked: r.yanked(),
            })
            .collect();
        Ok(Some(releases))
    }

    async fn download(&self, package: &PackageRef, release: &Release) -> Result<Vec<u8>> {
        let name = warg_name(package)?;
        let (_, stream) = {
            let _turn = self.storage.lock().await;
            self.client
                .download_exact_as_stream(&name, &release.version)
                .await
                .map_err(|e| self.explain(package, e))?
        };
        let mut stream = Box::pin(stream);
        let mut bytes = Vec::new();
        let progress = Transfer::new(format!("downloading {package}@{}", release.version), None);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| {
                format!(
                    "registry `{}`: downloading {package}@{} failed",
                    self.name, release.version
                )
            })?;
            progress.inc(chunk.len() as u64);
            bytes.extend_from_slice(&chunk);
        }
        progress.finish();
        Ok(bytes)
    }

    async fn publish(
        &self,
        package: &PackageRef,
        version: &Version,
        bytes: &[u8],
        key: Option<&PrivateKey>,
        progress: &Transfer,
    ) -> Result<Published> {
        let key = key.context("publishing to a warg registry needs a signing key")?;
        let digest = Digest::of(bytes);
        // The client uploads from its content store, which is our cache.
        self.content.cache.write(&digest, bytes)?;
        *self.content.progress.lock().unwrap() = Some(progress.clone());
        let entry = PublishEntry::Release {
            version: version.clone(),
            content: any_hash(&digest),
        };
        let record = self
            .sign_and_wait(package, key, entry, Some(progress))
            .await?;
        Ok(Published {
            package: package.clone(),
            version: version.clone(),
            digest,
            registry: self.name.clone(),
            record: Some(record.to_string()),
            manifest: None,
        })
    }

    async fn yank(
        &self,
        package: &PackageRef,
        version: &Version,
        key: Option<&PrivateKey>,
    ) -> Result<()> {
        let key = key.context("yanking from a warg registry needs a signing key")?;
        let entry = PublishEntry::Yank {
            version: version.clone(),
        };
        self.sign_and_wait(package, key, entry, None).await?;
        Ok(())
    }
}

/// warg-client's content store, backed by the registry's cache directory.
#[derive(Clone)]
struct CacheContent {
    cache: RegistryCache,
    progress: Arc<Mutex<Option<Transfer>>>,
}

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send + Sync>>;

fn digest_of(hash: &AnyHash) -> Option<Digest> {
    hash.to_string().parse().ok()
}

#[async_trait::async_trait]
impl ContentStorage for CacheContent {
    async fn clear(&self) -> Result<()> {
        Ok(())
    }

    fn content_location(&self, digest: &AnyHash) -> Option<PathBuf> {
        let path = self.cache.blob_path(&digest_of(digest)?);
        path.is_file().then_some(path)
    }

    async fn load_content(&self, digest: &AnyHash) -> Result<Option<ByteStream>> {
        let Some(d) = digest_of(digest) else {
            return Ok(None);
        };
        let Some(bytes) = self.cache.read(&d)? else {
            return Ok(None);
        };
        let progress = self.progress.lock().unwrap().take();
        if let Some(p) = &progress {
            p.set_length(bytes.len() as u64);
        }
        let chunks: Vec<Result<Bytes>> = Bytes::from(bytes)
            .chunks(256 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let stream = futures_util::stream::iter(chunks).inspect(move |chunk| {
            if let (Some(p), Ok(c)) = (&progress, chunk) {
                p.inc(c.len() as u64);
            }
        });
        Ok(Some(Box::pin(stream)))
    }

    async fn store_content(
        &self,
        mut stream: ByteStream,
        expected: Option<&AnyHash>,
    ) -> Result<AnyHash> {
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        let digest = Digest::of(&bytes);
        if let Some(expected) = expected.and_then(digest_of) {
            self.cache.write(&expected, &bytes)?;
        } else {
            self.cache.write(&digest, &bytes)?;
        }
        Ok(any_hash(&digest))
    }
}
