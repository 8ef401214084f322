//! The registry service: validates and commits records through a single writer task, and answers
//! reads from the in-memory state. Nothing here knows about HTTP.

mod pending;
mod reads;
pub mod state;
mod submit;
mod writer;

pub use pending::{PendingStatus, SubmitOutcome};
pub use reads::FetchLogsQuery;

use crate::{
    metrics::Metrics,
    store::{BlobStore, LogStore, StoreError},
};
use pending::Pending;
use state::{ReplayError, State};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::mpsc;
use warg_crypto::signing::PrivateKey;
use warg_protocol::{operator, registry::RegistryLen, ProtoEnvelope};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("operator record rejected: {0}")]
    OperatorRecord(String),
    #[error("signing failed: {0}")]
    Signing(String),
}

pub struct Core {
    state: RwLock<State>,
    store: Arc<dyn LogStore>,
    blobs: Arc<dyn BlobStore>,
    operator_key: PrivateKey,
    pending: Mutex<Pending>,
    metrics: Arc<Metrics>,
}

/// Handle used by the API layer.
#[derive(Clone)]
pub struct Service {
    core: Arc<Core>,
    submit_tx: mpsc::Sender<writer::Submission>,
}

impl Core {
    /// Rebuilds the in-memory state from the store, verifying every stored checkpoint.
    pub fn open(
        store: Arc<dyn LogStore>,
        blobs: Arc<dyn BlobStore>,
        operator_key: PrivateKey,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ServiceError> {
        let state = State::replay(store.load_records()?, store.load_checkpoints()?)?;
        metrics.set_log_length(state.log_length());
        Ok(Self {
            state: RwLock::new(state),
            store,
            blobs,
            operator_key,
            pending: Mutex::new(Pending::default()),
            metrics,
        })
    }

    /// Writes the operator init record and the first checkpoint into an empty store.
    pub fn initialize(
        store: &dyn LogStore,
        operator_key: &PrivateKey,
        namespaces: &[String],
    ) -> Result<(), ServiceError> {
        let mut entries = vec![operator::OperatorEntry::Init {
            hash_algorithm: warg_crypto::hash::HashAlgorithm::Sha256,
            key: operator_key.public_key(),
        }];
        entries.extend(
            namespaces
                .iter()
                .map(|ns| operator::OperatorEntry::DefineNamespace {
                    namespace: ns.clone(),
                }),
        );
        let record = operator::OperatorRecord {
            prev: None,
            version: 0,
            timestamp: std::time::SystemTime::now(),
            entries,
        };
        let envelope = ProtoEnvelope::signed_contents(operator_key, record)
            .map_err(|e| ServiceError::Signing(e.to_string()))?;
        let mut state = State::default();
        let accepted = state
            .validate_operator(envelope)
            .map_err(ServiceError::OperatorRecord)?;
        let stored = accepted.to_stored(0);
        state.apply(accepted);
        let checkpoint = state::checkpoint_of(&state.log, &state.map);
        let signed = state::sign_checkpoint(operator_key, checkpoint)
            .map_err(|e| ServiceError::Signing(e.to_string()))?;
        store.commit(&[stored], &signed)?;
        Ok(())
    }

    /// Appends a signed operator record defining more namespaces (the server must not be
    /// running: the data directory lock guarantees that).
    pub fn define_namespaces(&self, namespaces: &[String]) -> Result<RegistryLen, ServiceError> {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let prev = state
            .operator
            .state
            .head()
            .as_ref()
            .map(|h| h.digest.clone());
        let record = operator::OperatorRecord {
            prev,
            version: 0,
            timestamp: std::time::SystemTime::now(),
            entries: namespaces
                .iter()
                .map(|ns| operator::OperatorEntry::DefineNamespace {
                    namespace: ns.clone(),
                })
                .collect(),
        };
        let envelope = ProtoEnvelope::signed_contents(&self.operator_key, record)
            .map_err(|e| ServiceError::Signing(e.to_string()))?;
        let accepted = state
            .validate_operator(envelope)
            .map_err(ServiceError::OperatorRecord)?;
        let stored = accepted.to_stored(state.log.length());
        state.apply(accepted);
        let checkpoint = state::checkpoint_of(&state.log, &state.map);
        let signed = state::sign_checkpoint(&self.operator_key, checkpoint)
            .map_err(|e| ServiceError::Signing(e.to_string()))?;
        self.store.commit(&[stored], &signed)?;
        state.publish_checkpoint(signed);
        Ok(state.log_length())
    }

    pub fn namespaces(&self) -> Vec<String> {
        let state = self.read();
        let mut out = Vec::new();
        for committed in &state.operator.entries {
            for entry in &committed.envelope.as_ref().entries {
                if let operator::OperatorEntry::DefineNamespace { namespace } = entry {
                    out.push(namespace.clone());
                }
            }
        }
        out
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Service {
    /// Starts the writer task. It stops once every `Service` handle is dropped.
    pub fn start(core: Core, batch_limit: usize) -> (Self, tokio::task::JoinHandle<()>) {
        let core = Arc::new(core);
        let (submit_tx, submit_rx) = mpsc::channel(1024);
        let handle = tokio::spawn(writer::run(core.clone(), submit_rx, batch_limit.max(1)));
        (Self { core, submit_tx }, handle)
    }

    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.core.blobs
    }

    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.core.store
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.core.metrics
    }
}
