//! The shared metadata store: PostgreSQL, through a sized connection pool, so that several
//! instances work over one database. Commits are serialised by the database itself (an
//! advisory lock and a unique checkpoint index in one transaction), never by a process.
//!
//! The store traits are synchronous, as SQLite is. Each call runs on the store's own small
//! runtime and the caller's thread waits for it: one round trip, as long as a SQLite fsync,
//! and correct from any caller (a request handler, the writer's blocking task, a CLI command).

mod listen;
mod log;
mod oci;
mod pending;
mod secrets;
mod tokens;
mod uploads;

pub(crate) use secrets::PgSecretStore;

use super::{StoreError, StoreResult};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::future::BoxFuture;
use std::{sync::Arc, time::Duration};
use tokio_postgres_rustls::MakeRustlsConnect;

pub(crate) type Client = deadpool_postgres::Object;

/// How to reach the database, parsed once from the `[store] metadata` URL.
#[derive(Clone)]
pub(crate) struct PgSettings {
    pub config: tokio_postgres::Config,
    /// A CA certificate to trust besides the system's (`sslrootcert` in the URL, as libpq
    /// reads it, or `PGSSLROOTCERT`).
    pub root_cert: Option<std::path::PathBuf>,
    pub pool_size: usize,
    pub wait: Duration,
}

impl PgSettings {
    /// `url` is a `postgres://` URL (with `sslmode` and the other libpq parameters
    /// tokio-postgres reads). A password missing from it is taken from `password`.
    pub(crate) fn parse(
        url: &str,
        password: Option<String>,
        pool_size: usize,
        wait: Duration,
    ) -> Result<Self, String> {
        // tokio-postgres does not know libpq's `sslrootcert`: take it out first.
        let mut root_cert = std::env::var_os("PGSSLROOTCERT").map(Into::into);
        let mut url = url.to_string();
        if let Ok(mut parsed) = url::Url::parse(&url) {
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if let Some((_, path)) = pairs.iter().find(|(k, _)| k == "sslrootcert") {
                root_cert = Some(path.into());
                let rest: Vec<_> = pairs.iter().filter(|(k, _)| k != "sslrootcert").collect();
                if rest.is_empty() {
                    parsed.set_query(None);
                } else {
                    parsed.query_pairs_mut().clear().extend_pairs(rest);
                }
                url = parsed.to_string();
            }
        }
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
        if config.get_password().is_none() {
            if let Some(p) = password {
                config.password(p);
            }
        }
        if config.get_dbname().is_none() {
            return Err("it names no database (write `postgres://user@host/database`)".into());
        }
        Ok(Self {
            config,
            root_cert,
            pool_size: pool_size.max(1),
            wait,
        })
    }

    /// The database as people name it: `host:port/database`, never the password.
    pub(crate) fn describe(&self) -> String {
        let host = self
            .config
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{host}:{port}/{}",
            self.config.get_dbname().unwrap_or_default()
        )
    }
}

/// Work started on the store's runtime.
pub(crate) struct Pending<T>(std::sync::mpsc::Receiver<StoreResult<T>>);

impl<T> Pending<T> {
    /// Blocks for the answer. On a worker of a multi-threaded runtime the worker's other
    /// tasks move to another thread meanwhile: a query that waits (on a lock, or for a pool
    /// connection) must not stall the requests queued behind it.
    pub(crate) fn wait(self) -> StoreResult<T> {
        let recv = || {
            self.0
                .recv()
                .map_err(|_| StoreError::Unavailable("the database task stopped".into()))?
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(recv)
            }
            _ => recv(),
        }
    }
}

/// A runtime that may be dropped anywhere, even inside another runtime.
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl OwnRuntime {
    fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("the runtime lives as long as the store")
            .handle()
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The pool, and the runtime its connections live on. Cloned into each store.
pub(crate) struct Pg {
    pool: Pool,
    rt: OwnRuntime,
    name: String,
    /// Bumped when another instance may have committed (see [`listen`]).
    changes: tokio::sync::watch::Sender<u64>,
    /// The listening connection's settings, and whether it was started.
    listen_with: (tokio_postgres::Config, MakeRustlsConnect),
    listening: std::sync::Once,
}

impl Pg {
    /// Opens the pool and checks that the database answers.
    pub(crate) fn connect(settings: &PgSettings) -> StoreResult<Arc<Self>> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("wtool-registry-pg")
            .enable_all()
            .build()?;
        let tls = MakeRustlsConnect::new(tls_config(settings.root_cert.as_deref())?);
        let manager = Manager::from_config(
            settings.config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _enter = rt.handle().enter();
            Pool::builder(manager)
                .max_size(settings.pool_size)
                .wait_timeout(Some(settings.wait))
                .create_timeout(Some(settings.wait))
                .recycle_timeout(Some(settings.wait))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(|e| StoreError::Backend(Box::new(e)))?
        };
        let (changes, _) = tokio::sync::watch::channel(0);
        let pg = Arc::new(Self {
            pool,
            rt: OwnRuntime(Some(rt)),
            name: settings.describe(),
            changes,
            listen_with: (settings.config.clone(), tls),
            listening: std::sync::Once::new(),
        });
        pg.run(|c| {
            Box::pin(async move {
                c.simple_query("SELECT 1").await?;
                Ok(())
            })
        })?;
        Ok(pg)
    }

    /// A signal that another instance may have committed. The first call starts the
    /// listening connection: a server follows other instances, a CLI command does not.
    pub(crate) fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.listening.call_once(|| {
            let (config, tls) = self.listen_with.clone();
            self.rt
                .handle()
                .spawn(listen::listen(config, tls, self.changes.clone()));
        });
        self.changes.subscribe()
    }

    /// Runs `work` with a pooled connection and waits for it.
    pub(crate) fn run<T, F>(self: &Arc<Self>, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Client) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.start(work).wait()
    }

    /// Starts `work` with a pooled connection; [`Pending::wait`] blocks for its answer.
    pub(crate) fn start<T, F>(self: &Arc<Self>, work: F) -> Pending<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Client) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let this = self.clone();
        self.rt.handle().spawn(async move {
            let _ = tx.send(this.with_client(work).await);
        });
        Pending(rx)
    }

    /// [`run`](Self::run) for async callers: awaits instead of blocking.
    pub(crate) async fn run_async<T, F>(self: &Arc<Self>, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Client) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        let this = self.clone();
        self.rt
            .handle()
            .spawn(async move { this.with_client(work).await })
            .await
            .map_err(|_| StoreError::Unavailable("the database task stopped".into()))?
    }

    async fn with_client<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: for<'c> FnOnce(&'c mut Client) -> BoxFuture<'c, StoreResult<T>>,
    {
        let mut client = self.pool.get().await.map_err(|e| self.pool_error(e))?;
        work(&mut client).await.map_err(|e| self.classify(e))
    }

    fn pool_error(&self, e: deadpool_postgres::PoolError) -> StoreError {
        use deadpool_postgres::PoolError;
        match e {
            PoolError::Timeout(_) => StoreError::Unavailable(format!(
                "every connection to the database {} is busy (pool_size is {}); try again, \
                 or raise `[store] pool_size`",
                self.name,
                self.pool.status().max_size
            )),
            PoolError::Backend(e) => StoreError::Unavailable(format!(
                "cannot reach the database {}: {}",
                self.name,
                with_causes(&e)
            )),
            other => StoreError::Unavailable(format!("database {}: {other}", self.name)),
        }
    }

    /// A lost connection means the database is away, not that the data is bad.
    fn classify(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Backend(inner) => match inner.downcast::<tokio_postgres::Error>() {
                Ok(pg) if pg.is_closed() || pg.as_db_error().is_none() => {
                    StoreError::Unavailable(format!("the database {} went away: {pg}", self.name))
                }
                Ok(pg) => StoreError::Backend(pg),
                Err(other) => StoreError::Backend(other),
            },
            other => other,
        }
    }
}

/// An error and what caused it, as one line (a TLS failure names the certificate problem).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// TLS to the database, when `sslmode` asks for it: the server's certificate is verified
/// against the system's roots and `root_cert`, host name included.
fn tls_config(root_cert: Option<&std::path::Path>) -> StoreResult<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = root_cert {
        let pem = std::fs::read(path).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot read the database's CA certificate `{}`: {e}",
                path.display()
            ))
        })?;
        for cert in rustls_pemfile_certs(&pem) {
            let _ = roots.add(cert);
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth())
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

pub(super) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// The stores over one pool.
pub(crate) struct PgStores {
    pub pg: Arc<Pg>,
}

impl PgStores {
    pub(crate) fn log(&self) -> log::PgLogStore {
        log::PgLogStore(self.pg.clone())
    }
    pub(crate) fn tokens(&self) -> tokens::PgTokenStore {
        tokens::PgTokenStore(self.pg.clone())
    }
    pub(crate) fn pending(&self) -> pending::PgPendingStore {
        pending::PgPendingStore(self.pg.clone())
    }
    pub(crate) fn oci(&self) -> oci::PgOciStore {
        oci::PgOciStore(self.pg.clone())
    }
    /// Upload sessions; request bodies wait in `spool` on their way to the database.
    pub(crate) fn uploads(&self, spool: std::path::PathBuf) -> uploads::PgUploadStore {
        uploads::PgUploadStore {
            pg: self.pg.clone(),
            spool,
        }
    }
    pub(crate) fn secrets(&self) -> PgSecretStore {
        PgSecretStore(self.pg.clone())
    }
}
