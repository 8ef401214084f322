//! The single writer: drains submissions in batches, validates them in order, appends them and
//! signs one checkpoint per batch, commits durably, and only then makes them visible. Under load
//! one fsync covers many records; idle, a record is published within one commit.

use super::{
    state::{self, Accepted},
    Core, SubmitOutcome,
};
use std::{collections::HashMap, sync::Arc};
use tokio::sync::{mpsc, oneshot};
use warg_protocol::{
    package::{self, PackageRecord},
    registry::{LogId, PackageName, RecordId},
    ProtoEnvelope,
};

pub(super) struct Submission {
    pub log_id: LogId,
    pub name: PackageName,
    pub record_id: RecordId,
    pub envelope: ProtoEnvelope<PackageRecord>,
    pub reply: oneshot::Sender<SubmitOutcome>,
}

pub(super) async fn run(core: Arc<Core>, mut rx: mpsc::Receiver<Submission>, batch_limit: usize) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < batch_limit {
            match rx.try_recv() {
                Ok(s) => batch.push(s),
                Err(_) => break,
            }
        }
        let core = core.clone();
        // Validation, hashing and the fsync are blocking work; keep them off the I/O threads.
        let joined = tokio::task::spawn_blocking(move || commit_batch(&core, batch)).await;
        if let Err(e) = joined {
            tracing::error!("commit task failed: {e}");
        }
    }
    tracing::debug!("writer stopped");
}

fn commit_batch(core: &Core, batch: Vec<Submission>) {
    let started = std::time::Instant::now();
    // Validate against committed state plus earlier records of this batch. Only this task
    // mutates the state, so what we read here cannot change before we apply.
    let mut accepted: Vec<(Accepted, oneshot::Sender<SubmitOutcome>)> = Vec::new();
    let mut rejected: Vec<(RecordId, String, oneshot::Sender<SubmitOutcome>)> = Vec::new();
    let mut staged = {
        let state = core.read();
        let mut overlay: HashMap<LogId, package::LogState> = HashMap::new();
        for s in batch {
            if state.positions.contains_key(&s.record_id) {
                // Already committed (a duplicate submission); report it as such.
                let idx = state.positions[&s.record_id].registry_index;
                let _ = s.reply.send(SubmitOutcome::Published(idx));
                continue;
            }
            match state.validate_package(&s.log_id, &s.name, s.envelope, overlay.get(&s.log_id)) {
                Ok(a) => {
                    if let Accepted::Package { state: st, .. } = &a {
                        overlay.insert(s.log_id.clone(), st.clone());
                    }
                    accepted.push((a, s.reply));
                }
                Err(reason) => rejected.push((
                    s.record_id,
                    format!("the package record was invalid: {reason}"),
                    s.reply,
                )),
            }
        }
        // Stage on copies of the log's roots and of the map: O(log n) each (the map is
        // persistent), so a commit costs the same however long the log is.
        if accepted.is_empty() {
            None
        } else {
            let mut log = state.roots.clone();
            let mut map = state.map.clone();
            let base = log.length();
            let mut stored = Vec::with_capacity(accepted.len());
            for (i, (a, _)) in accepted.iter().enumerate() {
                let leaf = a.leaf();
                warg_transparency::log::LogBuilder::push(&mut log, &leaf);
                map = map.insert(
                    leaf.log_id.clone(),
                    warg_protocol::registry::MapLeaf {
                        record_id: leaf.record_id.clone(),
                    },
                );
                stored.push(a.to_stored(base + i));
            }
            Some((stored, state::checkpoint_of(&log, &map)))
        }
    };

    for (record_id, reason, reply) in rejected {
        tracing::info!(%record_id, %reason, "record rejected");
        core.metrics.record_rejected();
        core.reject(&record_id, reason.clone());
        let _ = reply.send(SubmitOutcome::Rejected(reason));
    }

    let Some((stored, checkpoint)) = staged.take() else {
        return;
    };
    let signed = match state::sign_checkpoint(&core.operator_key, checkpoint) {
        Ok(s) => s,
        Err(e) => return fail_all(core, accepted, format!("checkpoint signing failed: {e}")),
    };
    if let Err(e) = core.stores.log.commit(&stored, &signed) {
        tracing::error!("commit failed: {e}");
        return fail_all(
            core,
            accepted,
            "the registry could not store the record".into(),
        );
    }

    let mut state = core.write();
    let mut published = Vec::with_capacity(accepted.len());
    for (a, reply) in accepted {
        let leaf = a.leaf();
        let index = state.log.length();
        state.apply(a);
        published.push((leaf.record_id, index, reply));
    }
    state.publish_checkpoint(signed);
    let len = state.log_length();
    drop(state);

    core.metrics.set_log_length(len);
    core.metrics
        .commit_batch(published.len(), started.elapsed());
    for (record_id, index, reply) in published {
        core.forget(&record_id);
        tracing::info!(%record_id, registry_index = index, "record published");
        let _ = reply.send(SubmitOutcome::Published(index));
    }
}

fn fail_all(
    core: &Core,
    accepted: Vec<(Accepted, oneshot::Sender<SubmitOutcome>)>,
    reason: String,
) {
    for (a, reply) in accepted {
        let record_id = a.leaf().record_id;
        core.reject(&record_id, reason.clone());
        let _ = reply.send(SubmitOutcome::Rejected(reason.clone()));
    }
}
