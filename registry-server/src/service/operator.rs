//! The operator log: the init record, namespace definitions, and the one path every operator
//! record takes (sign → validate → apply → checkpoint → commit).

use super::{state::State, Core, ServiceError};
use crate::store::LogStore;
use warg_crypto::{hash::HashAlgorithm, signing::PrivateKey};
use warg_protocol::{
    operator::{OperatorEntry, OperatorRecord},
    registry::RegistryLen,
    ProtoEnvelope,
};

/// Signs a record of `entries` after the operator log's head, validates and applies it, and
/// commits it with a new checkpoint. The state is only changed in memory once the store has
/// the record: on a failed commit the caller must drop `state` (it is rebuilt on open).
fn append(
    state: &mut State,
    store: &dyn LogStore,
    key: &PrivateKey,
    entries: Vec<OperatorEntry>,
) -> Result<(), ServiceError> {
    let prev = state
        .operator
        .state
        .head()
        .as_ref()
        .map(|h| h.digest.clone());
    let record = OperatorRecord {
        prev,
        version: 0,
        timestamp: std::time::SystemTime::now(),
        entries,
    };
    let signing = |e: &dyn std::fmt::Display| ServiceError::Signing(e.to_string());
    let envelope = ProtoEnvelope::signed_contents(key, record).map_err(|e| signing(&e))?;
    let accepted = state
        .validate_operator(envelope)
        .map_err(ServiceError::OperatorRecord)?;
    let stored = accepted.to_stored(state.log.length());
    state.apply(accepted);
    let checkpoint = super::state::checkpoint_of(&state.log, &state.map);
    let signed = super::state::sign_checkpoint(key, checkpoint).map_err(|e| signing(&e))?;
    store.commit(&[stored], &signed)?;
    state.publish_checkpoint(signed);
    Ok(())
}

fn define(namespaces: &[String]) -> impl Iterator<Item = OperatorEntry> + '_ {
    namespaces
        .iter()
        .map(|namespace| OperatorEntry::DefineNamespace {
            namespace: namespace.clone(),
        })
}

impl Core {
    /// Writes the operator init record and the first checkpoint into an empty store.
    pub(crate) fn initialize(
        store: &dyn LogStore,
        operator_key: &PrivateKey,
        namespaces: &[String],
    ) -> Result<(), ServiceError> {
        let init = OperatorEntry::Init {
            hash_algorithm: HashAlgorithm::Sha256,
            key: operator_key.public_key(),
        };
        let entries = std::iter::once(init).chain(define(namespaces)).collect();
        append(&mut State::default(), store, operator_key, entries)
    }

    /// Appends a signed operator record defining more namespaces (the server must not be
    /// running: the data directory lock guarantees that).
    pub(crate) fn define_namespaces(
        &self,
        namespaces: &[String],
    ) -> Result<RegistryLen, ServiceError> {
        let mut state = self.write();
        append(
            &mut state,
            self.stores.log.as_ref(),
            &self.operator_key,
            define(namespaces).collect(),
        )?;
        Ok(state.log_length())
    }

    pub(crate) fn namespaces(&self) -> Vec<String> {
        let state = self.read();
        let mut out = Vec::new();
        for committed in &state.operator.entries {
            for entry in &committed.envelope.as_ref().entries {
                if let OperatorEntry::DefineNamespace { namespace } = entry {
                    out.push(namespace.clone());
                }
            }
        }
        out
    }
}
