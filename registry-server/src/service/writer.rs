//! The single writer: drains submissions in batches, validates them in order, appends them and
//! signs one checkpoint per batch, commits durably, and only then makes them visible. Under load
//! one fsync covers many records; idle, a record is published within one commit.

use super::{
    state::{self, Accepted},
    Core, SubmitOutcome,
};
use crate::store::StoreError;
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

/// How often a batch is staged again after another instance committed first.
const COMMIT_ATTEMPTS: usize = 8;

fn commit_batch(core: &Core, batch: Vec<Submission>) {
    let started = std::time::Instant::now();
    // Nothing else extends the state meanwhile: not a refresh, not another commit.
    let _extending = core.extending.lock().unwrap_or_else(|e| e.into_inner());
    let mut batch = batch;
    for attempt in 1..=COMMIT_ATTEMPTS {
        // Other instances' commits first, so this batch validates against the whole log.
        if let Err(e) = core.refresh_locked() {
            tracing::error!("cannot read other instances' commits: {e}");
            return fail_submissions(core, batch, unavailable(&e));
        }
        match stage_and_commit(core, batch, started) {
            Ok(()) => return,
            Err(Retry::Conflict(again)) if attempt < COMMIT_ATTEMPTS => {
                tracing::debug!(attempt, "another instance committed first; staging again");
                batch = again;
            }
            Err(Retry::Conflict(again)) => {
                return fail_submissions(
                    core,
                    again,
                    "the registry is busy: other instances kept committing first; try again".into(),
                )
            }
        }
    }
}

fn unavailable(e: &dyn std::fmt::Display) -> String {
    format!("the registry could not store the record ({e}); try again")
}

/// A batch that lost the race to another instance, to be staged again.
enum Retry {
    Conflict(Vec<Submission>),
}

fn stage_and_commit(
    core: &Core,
    batch: Vec<Submission>,
    started: std::time::Instant,
) -> Result<(), Retry> {
    // Validate against committed state plus earlier records of this batch. Only this task
    // mutates the state, so what we read here cannot change before we apply.
    let mut accepted: Vec<(Accepted, Submission)> = Vec::new();
    let mut rejected: Vec<(RecordId, String, oneshot::Sender<SubmitOutcome>)> = Vec::new();
    let mut staged = {
        let state = core.read();
        let mut overlay: HashMap<LogId, package::LogState> = HashMap::new();
        for s in batch {
            if state.positions.contains_key(&s.record_id) {
                // Already committed (a duplicate submission, or another instance took it).
                let idx = state.positions[&s.record_id].registry_index;
                core.forget(&s.record_id);
                let _ = s.reply.send(SubmitOutcome::Published(idx));
                continue;
            }
            match state.validate_package(
                &s.log_id,
                &s.name,
                s.envelope.clone(),
                overlay.get(&s.log_id),
            ) {
                Ok(a) => {
                    if let Accepted::Package { state: st, .. } = &a {
                        overlay.insert(s.log_id.clone(), st.clone());
                    }
                    accepted.push((a, s));
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
        return Ok(());
    };
    let signed = match state::sign_checkpoint(&core.operator_key, checkpoint) {
        Ok(s) => s,
        Err(e) => {
            fail_all(core, accepted, format!("checkpoint signing failed: {e}"));
            return Ok(());
        }
    };
    match core.stores.log.commit(&stored, &signed) {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(Retry::Conflict(
                accepted.into_iter().map(|(_, s)| s).collect(),
            ))
        }
        Err(e) => {
            tracing::error!("commit failed: {e}");
            let reason = match &e {
                e if e.is_full() => crate::store::FULL.to_string(),
                StoreError::Unavailable(_) => unavailable(&e),
                _ => "the registry could not store the record".into(),
            };
            fail_all(core, accepted, reason);
            return Ok(());
        }
    }

    let mut state = core.write();
    let mut published = Vec::with_capacity(accepted.len());
    for (a, s) in accepted {
        let leaf = a.leaf();
        let index = state.log.length();
        state.apply(a);
        published.push((leaf.record_id, index, s.reply));
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
    Ok(())
}

fn fail_submissions(core: &Core, batch: Vec<Submission>, reason: String) {
    for s in batch {
        core.reject(&s.record_id, reason.clone());
        let _ = s.reply.send(SubmitOutcome::Rejected(reason.clone()));
    }
}

fn fail_all(core: &Core, accepted: Vec<(Accepted, Submission)>, reason: String) {
    fail_submissions(core, accepted.into_iter().map(|(_, s)| s).collect(), reason)
}
