//! Following other instances that share the store. Each instance keeps the log in memory as a
//! cache of the store; another instance's commits reach it through [`Core::refresh`]:
//! - at once when the store announces a commit (PostgreSQL's `NOTIFY`), and at least every
//!   `[store] refresh_ms` (the bound on how stale an idle instance is when announcements are
//!   lost);
//! - before each of its own commits, which extend the store's log, never its own copy;
//! - before answering with the latest checkpoint, and when a request names a checkpoint or
//!   record it does not hold yet, so that a client that saw checkpoint N on one instance never
//!   sees an unknown checkpoint or a rewind on another.

use super::{Core, ServiceError};
use std::{sync::Weak, time::Duration};
use warg_protocol::registry::RegistryLen;

impl Core {
    /// Applies what other instances committed since this one last looked; returns how many
    /// records that was. Does nothing on a store no other instance shares.
    pub(crate) fn refresh(&self) -> Result<usize, ServiceError> {
        if !self.stores.shared {
            return Ok(0);
        }
        // Most calls find nothing new: they need not wait for a commit in progress.
        if self.stores.log.length()? <= self.read().log_length() {
            return Ok(0);
        }
        let _extending = self.extending.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh_locked()
    }

    /// [`refresh`](Self::refresh) for a caller that holds `extending`.
    pub(super) fn refresh_locked(&self) -> Result<usize, ServiceError> {
        let ours = self.read().log_length();
        if self.stores.log.length()? <= ours {
            return Ok(0);
        }
        let tail = self.stores.log.load_since(ours)?;
        let added = tail.0.len();
        let mut state = self.write();
        state.extend(tail)?;
        let len = state.log_length();
        drop(state);
        self.metrics.set_log_length(len);
        tracing::debug!(added, log_length = len, "caught up with other instances");
        Ok(added)
    }

    /// Refreshes first if this instance's log is shorter than `len`.
    pub(crate) fn catch_up_to(&self, len: RegistryLen) {
        if self.stores.shared && self.read().log_length() < len {
            self.refresh_logged();
        }
    }

    /// Refreshes, logging (not returning) a failure: a read then answers from what this
    /// instance holds, which is never wrong, only possibly behind.
    pub(crate) fn refresh_logged(&self) {
        if let Err(e) = self.refresh() {
            tracing::warn!("cannot read other instances' commits: {e}");
        }
    }
}

/// Refreshes every `period` while the service lives, and at once when the store announces
/// another instance's commit.
pub(super) async fn follow(core: Weak<Core>, period: Duration) {
    let period = period.max(Duration::from_millis(10));
    let mut changes = core.upgrade().and_then(|c| c.stores.log.changes());
    loop {
        match changes.as_mut() {
            Some(rx) => {
                tokio::select! {
                    _ = tokio::time::sleep(period) => {}
                    changed = rx.changed() => {
                        if changed.is_err() {
                            changes = None;
                        }
                    }
                }
            }
            None => tokio::time::sleep(period).await,
        }
        let Some(core) = core.upgrade() else {
            return;
        };
        let joined = tokio::task::spawn_blocking(move || core.refresh()).await;
        match joined {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("cannot read other instances' commits: {e}"),
            Err(e) => tracing::warn!("refresh task failed: {e}"),
        }
    }
}
