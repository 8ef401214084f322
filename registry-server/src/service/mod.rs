//! The registry service: authorizes, receives uploads, validates and commits records through a
//! single writer task, and answers reads from the in-memory state. Every front end goes
//! through it; nothing here knows about HTTP.

mod access;
pub(crate) mod browse;
pub(crate) mod describe;
pub(crate) mod maintenance;
pub(crate) mod oci;
mod operator;
mod reads;
mod refresh;
mod state;
mod submit;
mod throttle;
mod upload;
mod writer;

pub(crate) use access::{issue_token, Access, AuthError};
pub(crate) use reads::FetchLogsQuery;
pub(crate) use submit::SubmitOutcome;
pub(crate) use upload::UploadError;

use crate::{
    metrics::Metrics,
    policy::ContentPolicy,
    store::{StoreError, Stores},
};
use state::{ReplayError, State};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;
use warg_crypto::signing::PrivateKey;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ServiceError {
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("operator record rejected: {0}")]
    OperatorRecord(String),
    #[error("signing failed: {0}")]
    Signing(String),
}

/// What the service enforces beyond the protocol.
pub(crate) struct Policies {
    pub content: ContentPolicy,
    pub access: Access,
    pub oci: oci::OciPolicy,
    /// How often an instance on a shared store looks for other instances' checkpoints.
    pub refresh: std::time::Duration,
}

pub(crate) struct Core {
    state: RwLock<State>,
    stores: Stores,
    operator_key: PrivateKey,
    policies: Policies,
    metrics: Arc<Metrics>,
    /// Upload sessions as their bytes pass through this instance (a cache).
    uploads_seen: oci::Progress,
    /// Failed authentications per client address.
    throttle: throttle::AuthThrottle,
    /// Held while the state is extended from the store, by this instance's own commit or by
    /// a refresh with other instances' commits, so that no record is applied twice.
    extending: std::sync::Mutex<()>,
}

/// Handle used by the front ends.
#[derive(Clone)]
pub(crate) struct Service {
    core: Arc<Core>,
    submit_tx: mpsc::Sender<writer::Submission>,
}

impl Core {
    /// Rebuilds the in-memory state from the store, verifying every stored checkpoint.
    pub(crate) fn open(
        stores: Stores,
        operator_key: PrivateKey,
        policies: Policies,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ServiceError> {
        let state = State::replay(stores.log.load_since(0)?)?;
        metrics.set_log_length(state.log_length());
        let throttle = throttle::AuthThrottle::new(policies.access.auth_failures_per_minute);
        Ok(Self {
            state: RwLock::new(state),
            stores,
            operator_key,
            policies,
            metrics,
            uploads_seen: oci::Progress::default(),
            throttle,
            extending: std::sync::Mutex::new(()),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// How often the content store is swept of what interrupted writes left.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Sweeps the content store at start and every [`SWEEP_EVERY`] while the service lives.
async fn sweep_content(core: std::sync::Weak<Core>) {
    loop {
        let Some(c) = core.upgrade() else {
            return;
        };
        match c.stores.content.sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(aborted = n, "aborted abandoned multipart uploads"),
            Err(e) => tracing::warn!("cannot sweep the content store: {e}"),
        }
        drop(c);
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

impl Service {
    /// Starts the writer task. It stops once every `Service` handle is dropped.
    pub(crate) fn start(core: Core, batch_limit: usize) -> (Self, tokio::task::JoinHandle<()>) {
        let core = Arc::new(core);
        let (submit_tx, submit_rx) = mpsc::channel(1024);
        let handle = tokio::spawn(writer::run(core.clone(), submit_rx, batch_limit.max(1)));
        let service = Self { core, submit_tx };
        tokio::spawn(service.clone().resume_processing());
        if service.core.stores.shared {
            tokio::spawn(refresh::follow(
                Arc::downgrade(&service.core),
                service.core.policies.refresh,
            ));
        }
        tokio::spawn(sweep_content(Arc::downgrade(&service.core)));
        (service, handle)
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.core.metrics
    }
}
