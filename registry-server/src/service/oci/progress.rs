//! What this instance learns of an upload session while its bytes pass through: the running
//! sha256 and, in package repositories, the content policy's check. A worker beside the
//! requests digests each chunk, so that closing the session needs neither to read its bytes
//! again nor to hash them, and a manifest that names the blob as its layer finds the policy's
//! verdict waiting.
//!
//! It is only a cache. A session whose bytes went partly through another instance, or were
//! sent again after a broken request, or whose digest is not sha256, is hashed and checked
//! from the store instead, so nothing here decides anything the store does not back.

use crate::digest::{Algorithm, Digest};
use crate::policy::{ContentCheck, ContentPolicy, ContentRejection};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Sessions followed at once; past that, new sessions are simply not followed.
const MAX_FOLLOWED: usize = 1024;
/// Policy verdicts kept, newest first out last.
const MAX_VERDICTS: usize = 4096;
/// Chunks queued for a worker before the request waits for it.
const QUEUE: usize = 8;
/// Bytes a worker gathers before it hashes and checks them on the blocking pool: chunks come
/// off the socket a few kilobytes at a time, and handing each one over costs two thread
/// switches, which on a busy core cost more than hashing the chunk.
const BATCH: usize = 1 << 20;

/// What the worker knew of a session's bytes when it closed.
pub(super) struct Digested {
    pub sha256: Digest,
    /// The content policy's verdict, where the session was checked.
    pub verdict: Option<Result<(), ContentRejection>>,
}

enum Msg {
    Chunk(u64, Bytes),
    Finish(u64, oneshot::Sender<Option<Digested>>),
}

#[derive(Default)]
pub(crate) struct Progress {
    /// Each followed session's queue to its worker, and when it last took a chunk.
    followed: Mutex<HashMap<String, (mpsc::Sender<Msg>, Instant)>>,
    verdicts: Mutex<Verdicts>,
}

#[derive(Default)]
struct Verdicts {
    by_digest: HashMap<Digest, Result<(), ContentRejection>>,
    order: VecDeque<Digest>,
}

impl Progress {
    /// Starts following a new session; `policy` is set where its bytes will be checked.
    pub(super) fn follow(&self, id: &str, policy: Option<&ContentPolicy>) {
        let mut followed = lock(&self.followed);
        if followed.len() >= MAX_FOLLOWED {
            return;
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let check = policy.map(ContentPolicy::start);
        tokio::spawn(digest_session(rx, check));
        followed.insert(id.to_string(), (tx, Instant::now()));
    }

    /// A chunk that is about to be appended at `offset`.
    pub(super) async fn chunk(&self, id: &str, offset: u64, bytes: Bytes) {
        let tx = lock(&self.followed).get_mut(id).map(|(tx, touched)| {
            *touched = Instant::now();
            tx.clone()
        });
        if let Some(tx) = tx {
            if tx.send(Msg::Chunk(offset, bytes)).await.is_err() {
                self.forget(id);
            }
        }
    }

    /// What is known of the session's first `len` bytes, if they all went through here in
    /// order; the session is no longer followed afterwards.
    pub(super) async fn finish(&self, id: &str, len: u64) -> Option<Digested> {
        let (tx, _) = lock(&self.followed).remove(id)?;
        let (reply, answer) = oneshot::channel();
        tx.send(Msg::Finish(len, reply)).await.ok()?;
        answer.await.ok().flatten()
    }

    pub(super) fn forget(&self, id: &str) {
        lock(&self.followed).remove(id);
    }

    /// Stops following sessions that took no chunk for `idle`: they expire in the store too.
    pub(super) fn prune(&self, idle: Duration) {
        lock(&self.followed).retain(|_, (_, touched)| touched.elapsed() < idle);
    }

    pub(super) fn remember(&self, digest: &Digest, verdict: Result<(), ContentRejection>) {
        let mut v = lock(&self.verdicts);
        if v.by_digest.insert(digest.clone(), verdict).is_none() {
            v.order.push_back(digest.clone());
            if v.order.len() > MAX_VERDICTS {
                if let Some(old) = v.order.pop_front() {
                    v.by_digest.remove(&old);
                }
            }
        }
    }

    /// The content policy's verdict on a blob, if one was reached while it was uploaded.
    pub(super) fn verdict(&self, digest: &Digest) -> Option<Result<(), ContentRejection>> {
        lock(&self.verdicts).by_digest.get(digest).cloned()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The worker of one session: feeds every chunk, in order, to the hash and the check, on the
/// blocking pool, in batches of about [`BATCH`] bytes. A chunk that does not start where
/// the last one ended (a request broke and was sent again) spoils what was learnt, and the
/// session is then hashed from the store when it closes.
async fn digest_session(mut rx: mpsc::Receiver<Msg>, check: Option<ContentCheck>) {
    let mut state = Some((Algorithm::Sha256.hasher(), check));
    let mut fed = 0u64;
    let mut finish = None;
    let mut batch = Vec::new();
    let mut gathered = 0;
    while finish.is_none() {
        let Some(msg) = rx.recv().await else { return };
        match msg {
            Msg::Chunk(offset, bytes) => {
                if offset != fed {
                    state = None;
                }
                fed = offset + bytes.len() as u64;
                gathered += bytes.len();
                if state.is_some() {
                    batch.push(bytes);
                }
            }
            Msg::Finish(len, reply) => finish = Some((len, reply)),
        }
        if gathered < BATCH && finish.is_none() {
            continue;
        }
        gathered = 0;
        let taken = std::mem::take(&mut batch);
        if let Some((mut hasher, mut check)) = state.take() {
            let digested = tokio::task::spawn_blocking(move || {
                for bytes in &taken {
                    hasher.update(bytes);
                    if let Some(check) = check.as_mut() {
                        // A rejection is kept by the check and reported when it finishes.
                        let _ = check.feed(bytes);
                    }
                }
                (hasher, check)
            });
            state = digested.await.ok();
        }
    }
    let Some((len, reply)) = finish else { return };
    let digested = state
        .filter(|_| fed == len)
        .map(|(hasher, check)| Digested {
            sha256: hasher.finish(),
            verdict: check.map(|c| c.finish().map(drop)),
        });
    let _ = reply.send(digested);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ContentPolicy {
        ContentPolicy {
            max_bytes: 1 << 20,
            validate_wasm: true,
            allow_core_modules: false,
            known_bodies: None,
        }
    }

    #[tokio::test]
    async fn chunks_in_order_give_the_digest_and_a_verdict() {
        let progress = Progress::default();
        progress.follow("s", Some(&policy()));
        progress.chunk("s", 0, Bytes::from_static(b"not ")).await;
        progress.chunk("s", 4, Bytes::from_static(b"wasm")).await;
        let digested = progress.finish("s", 8).await.expect("followed in order");
        assert_eq!(digested.sha256, Digest::sha256(b"not wasm"));
        assert!(matches!(
            digested.verdict,
            Some(Err(ContentRejection::Invalid(_)))
        ));
        // Finished sessions are no longer followed.
        assert!(progress.finish("s", 8).await.is_none());
    }

    #[tokio::test]
    async fn a_chunk_sent_again_spoils_what_was_learnt() {
        let progress = Progress::default();
        progress.follow("s", None);
        progress.chunk("s", 0, Bytes::from_static(b"abcd")).await;
        // The request broke, and the client sent the chunk again from where the store stood.
        progress.chunk("s", 0, Bytes::from_static(b"abcd")).await;
        assert!(progress.finish("s", 4).await.is_none());
    }

    #[tokio::test]
    async fn a_length_other_than_what_went_through_gives_nothing() {
        let progress = Progress::default();
        progress.follow("s", None);
        progress.chunk("s", 0, Bytes::from_static(b"abcd")).await;
        assert!(progress.finish("s", 3).await.is_none());
    }

    #[test]
    fn verdicts_are_bounded() {
        let progress = Progress::default();
        for i in 0..(MAX_VERDICTS + 10) {
            progress.remember(&Digest::sha256(&i.to_le_bytes()), Ok(()));
        }
        assert!(progress
            .verdict(&Digest::sha256(&0usize.to_le_bytes()))
            .is_none());
        let last = MAX_VERDICTS + 9;
        assert!(progress
            .verdict(&Digest::sha256(&last.to_le_bytes()))
            .is_some());
    }
}
