//! Starting and stopping a server: used by `serve` and, in-process, by tests.

use crate::{
    api::{self, AppState},
    config::{self, Config},
    metrics::Metrics,
    service::{Access, Core, Policies, Service, Stores},
    store::{FsContentStore, SqliteLogStore, SqlitePendingStore, SqliteTokenStore, StoreError},
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

/// Opens the stores and rebuilds (and verifies) the in-memory state.
pub(crate) fn open_core(config: &Config) -> anyhow::Result<Core> {
    let key = read_operator_key(&config.key_path())?;
    let db = config.data_dir.join(config::DB_FILE);
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
    };
    let policies = Policies {
        content: config.content_policy(),
        access: Access {
            authorized_keys: config.authorized_keys.clone(),
            allow_anonymous_publish: config.allow_anonymous_publish,
            require_read_token: config.require_read_token,
        },
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
        let state = Arc::new(AppState {
            service,
            public_url: public_url.clone(),
            max_json_bytes: config.max_json_bytes,
            request_timeout: Duration::from_secs(config.request_timeout_secs.max(1)),
            transfer_timeout: Duration::from_secs(config.transfer_timeout_secs.max(1)),
            warg: Default::default(),
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
