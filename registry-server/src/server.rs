//! Starting and stopping a server: used by `serve` and, in-process, by tests.

use crate::{
    api::{self, AppState},
    config::{self, Config},
    metrics::Metrics,
    service::oci::OciPolicy,
    service::{Access, Core, Policies, Service, Stores},
    store::{
        FsContentStore, SqliteLogStore, SqliteOciStore, SqlitePendingStore, SqliteTokenStore,
        StoreError,
    },
};
use anyhow::Context;
use axum::serve::ListenerExt;
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

fn read_operator_key(path: &Path) -> anyhow::Result<PrivateKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read operator key `{}`", path.display()))?;
    PrivateKey::decode(text.trim().to_string())
        .with_context(|| format!("invalid operator key in `{}`", path.display()))
}

/// Reads a secret file, creating it first with `make` if it does not exist yet (data
/// directories made before the file existed get one on their next start).
fn secret_file(path: &Path, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    if !path.exists() {
        match crate::cli::write_secret(path, make().as_bytes()) {
            Ok(()) => {}
            // Another process made it first: read theirs.
            Err(_) if path.exists() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?
        .trim()
        .to_string())
}

fn oci_policy(config: &Config) -> anyhow::Result<OciPolicy> {
    let key_path = config.data_dir.join(config::OCI_KEY_FILE);
    let key = secret_file(&key_path, || {
        warg_crypto::signing::generate_p256_pair()
            .1
            .encode()
            .to_string()
    })?;
    let publisher_key = PrivateKey::decode(key)
        .with_context(|| format!("invalid OCI publisher key in `{}`", key_path.display()))?;
    let secret = secret_file(&config.data_dir.join(config::OCI_TOKEN_SECRET_FILE), || {
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
        token_secret: secret.into_bytes(),
    })
}

/// Opens the stores and rebuilds (and verifies) the in-memory state.
pub(crate) fn open_core(config: &Config) -> anyhow::Result<Core> {
    let key = read_operator_key(&config.key_path())?;
    let db = config.data_dir.join(config::DB_FILE);
    let oci = Arc::new(
        SqliteOciStore::open(&db, &config.data_dir.join(config::UPLOAD_DIR))
            .context("cannot open the OCI tables")?,
    );
    let stores = Stores {
        log: Arc::new(SqliteLogStore::open(&db).context("cannot open the registry database")?),
        content: Arc::new(
            FsContentStore::open(&config.data_dir.join(config::BLOB_DIR))
                .context("cannot open the blob directory")?,
        ),
        tokens: Arc::new(open_tokens(config)?),
        pending: Arc::new(
            SqlitePendingStore::open(&db).context("cannot open the pending-record database")?,
        ),
        oci: oci.clone(),
        uploads: oci,
    };
    let policies = Policies {
        content: config.content_policy(),
        access: Access {
            authorized_keys: config.authorized_keys.clone(),
            allow_anonymous_publish: config.allow_anonymous_publish,
            require_read_token: config.require_read_token,
        },
        oci: oci_policy(config)?,
    };
    let core = Core::open(stores, key, policies, Arc::new(Metrics::default()))
        .context("cannot load the registry state")?;
    Ok(core)
}

/// The token store alone, for managing tokens without loading the log.
pub(crate) fn open_tokens(config: &Config) -> anyhow::Result<SqliteTokenStore> {
    SqliteTokenStore::open(&config.data_dir.join(config::DB_FILE))
        .context("cannot open the token database")
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
        let lock = lock_data_dir(&config.data_dir)?;
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
        // No Nagle: responses are written in few large writes, and a small final write (the
        // tail of a download, a short JSON answer) must not wait for a delayed ACK.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await?;
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
