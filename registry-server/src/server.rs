//! Starting and stopping a server: used by `serve` and, in-process, by tests.

use crate::{
    api::{self, AppState},
    config::{self, Config},
    metrics::Metrics,
    service::oci::OciPolicy,
    service::{Access, Core, Policies, Service},
    store::{open::Backends, SecretStore, StoreError, TokenStore},
};
use anyhow::Context;
use std::{fs::File, net::SocketAddr, path::Path, sync::Arc, time::Duration};
use tokio::{sync::oneshot, task::JoinHandle};
use warg_crypto::signing::PrivateKey;

/// Holds the data directory's lock: one process owns a store at a time.
pub(crate) struct DataDirLock {
    _file: File,
}

pub(crate) fn lock_data_dir(dir: &Path) -> anyhow::Result<DataDirLock> {
    let path = dir.join(config::LOCK_FILE);
    let file =
        File::create(&path).with_context(|| format!("cannot create `{}`", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked.into()),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// The stores the config names, migrated to this build's schema.
pub(crate) fn backends(config: &Config) -> anyhow::Result<Backends> {
    Ok(Backends::of(config)?)
}

fn operator_key(secrets: &dyn SecretStore, backends: &Backends) -> anyhow::Result<PrivateKey> {
    let text = secrets
        .get(config::KEY_FILE)
        .with_context(|| format!("cannot read the operator key of {}", backends.describe()))?
        .with_context(|| {
            format!(
                "{} holds no operator key; run `wtool-registry init` first",
                backends.describe()
            )
        })?;
    PrivateKey::decode(text).context("the stored operator key is not a valid key")
}

/// A secret made on first use (data directories made before it existed get one on their
/// next start; instances sharing a store agree on the first one made).
fn secret(
    secrets: &dyn SecretStore,
    name: &str,
    make: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    if let Some(found) = secrets.get(name)? {
        return Ok(found);
    }
    Ok(secrets.get_or_insert(name, make())?)
}

fn oci_policy(config: &Config, secrets: &dyn SecretStore) -> anyhow::Result<OciPolicy> {
    let key = secret(secrets, config::OCI_KEY_FILE, || {
        warg_crypto::signing::generate_p256_pair()
            .1
            .encode()
            .to_string()
    })?;
    let publisher_key =
        PrivateKey::decode(key).context("the stored OCI publisher key is not a valid key")?;
    let token_secret = secret(secrets, config::OCI_TOKEN_SECRET_FILE, || {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("operating system random number generator failed");
        hex::encode(bytes)
    })?;
    let oci = &config.oci;
    if let Some(ns) = oci
        .mutable_tag_namespaces
        .iter()
        .find(|ns| !oci.generic_namespaces.contains(ns))
    {
        anyhow::bail!(
            "`[oci] mutable_tag_namespaces` lists `{ns}`, which is not in `generic_namespaces`: \
             only generic namespaces may move tags (package versions never move); add it there \
             or remove it"
        );
    }
    Ok(OciPolicy {
        namespace_prefix: oci.namespace_prefix.clone(),
        generic_namespaces: oci.generic_namespaces.clone(),
        mutable_tag_namespaces: oci.mutable_tag_namespaces.clone(),
        upload_expiry_secs: oci.upload_expiry_secs.max(1),
        token_ttl_secs: oci.token_ttl_secs,
        publisher_key,
        token_secret: token_secret.into_bytes(),
    })
}

/// Opens the stores and rebuilds (and verifies) the in-memory state.
pub(crate) fn open_core(config: &Config) -> anyhow::Result<Core> {
    let backends = backends(config)?;
    let stores = backends
        .open()
        .with_context(|| format!("cannot open the registry store {}", backends.describe()))?;
    let key = operator_key(stores.secrets.as_ref(), &backends)?;
    let policies = Policies {
        content: config.content_policy(),
        access: Access {
            authorized_keys: config.authorized_keys.clone(),
            allow_anonymous_publish: config.allow_anonymous_publish,
            require_read_token: config.require_read_token,
            auth_failures_per_minute: config.limits.auth_failures_per_minute,
        },
        oci: oci_policy(config, stores.secrets.as_ref())?,
        refresh: Duration::from_millis(config.store.refresh_ms.max(1)),
    };
    let core = Core::open(stores, key, policies, Arc::new(Metrics::default()))
        .context("cannot load the registry state")?;
    Ok(core)
}

/// The token store alone, for managing tokens without loading the log.
pub(crate) fn open_tokens(config: &Config) -> anyhow::Result<Arc<dyn TokenStore>> {
    let backends = backends(config)?;
    backends
        .tokens()
        .with_context(|| format!("cannot open the token store {}", backends.describe()))
}

/// Locks the data directory when the store lives in it alone: several instances may share a
/// database, never a SQLite file.
pub(crate) fn lock_if_embedded(config: &Config) -> anyhow::Result<Option<DataDirLock>> {
    if backends(config)?.shared() {
        return Ok(None);
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create `{}`", config.data_dir.display()))?;
    lock_data_dir(&config.data_dir).map(Some)
}

/// Drops abandoned upload sessions and reclaims their bytes, at start and then periodically.
async fn expire_uploads(service: Service) {
    let period = Duration::from_secs(service.upload_expiry_secs().clamp(1, 60));
    loop {
        let s = service.clone();
        match tokio::task::spawn_blocking(move || s.expire_uploads()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(sessions = n, "expired upload sessions removed"),
            Ok(Err(e)) => tracing::warn!("cannot expire upload sessions: {e}"),
            Err(e) => tracing::warn!("upload expiry task failed: {e}"),
        }
        tokio::time::sleep(period).await;
    }
}

pub struct RunningServer {
    pub local_addr: SocketAddr,
    pub public_url: url::Url,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let lock = lock_if_embedded(&config)?;
        let core = open_core(&config)?;
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on `{}`", config.listen))?;
        let local_addr = listener.local_addr()?;
        let public_url = match &config.public_url {
            Some(u) => config::normalize_public_url(u)?,
            None => {
                if local_addr.ip().is_unspecified() {
                    tracing::warn!(
                        "listening on {local_addr} without a public URL; content URLs will not be reachable from other hosts (set --public-url)"
                    );
                }
                config::normalize_public_url(&format!("http://{local_addr}/"))?
            }
        };
        let (service, writer) = Service::start(core, config.batch_limit);
        let expiry = tokio::spawn(expire_uploads(service.clone()));
        let state = Arc::new(AppState {
            service,
            public_url: public_url.clone(),
            max_json_bytes: config.max_json_bytes,
            request_timeout: Duration::from_secs(config.request_timeout_secs.max(1)),
            transfer_timeout: Duration::from_secs(config.transfer_timeout_secs.max(1)),
            warg: Default::default(),
            web: api::Web::new(&public_url),
            web_enabled: config.web.enabled,
        });
        let app = api::router(state);
        let (tx, rx) = oneshot::channel::<()>();
        let limits = crate::connections::Limits::of(&config.limits);
        let task = tokio::spawn(async move {
            crate::connections::serve(listener, app, limits, async {
                let _ = rx.await;
            })
            .await;
            // The router (and its service handles) is gone, so the writer drains and stops.
            expiry.abort();
            let _ = expiry.await;
            writer.await?;
            drop(lock);
            Ok(())
        });
        tracing::info!(%local_addr, %public_url, "wtool-registry listening");
        Ok(Self {
            local_addr,
            public_url,
            shutdown: Some(tx),
            task,
        })
    }

    /// Stops accepting connections, finishes in-flight requests and commits, then returns.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await?
    }
}
