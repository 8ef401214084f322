//! Content policy: what content is accepted. Validity is decided by `wtool-compose`'s one
//! validator, fed forward only with each chunk of the upload as it streams in.
//!
//! Memory stays flat in the size of the content. The validator parses each chunk where it lies
//! and holds only an item that a chunk boundary cuts in two: at most one section (or one
//! function body) besides data and custom sections. Those two are never held: custom sections
//! are checked by their name alone and data sections by their segments' headers, and their
//! payloads, which are what makes components large, are dropped as they stream past. So the
//! bound is the largest code, type or other non-data section entry of the content, plus the
//! chunk being fed; for an 18 MB componentize-py component that is a few hundred kilobytes.
//!
//! Chunks are handed to the validator in runs of about [`RUN`] bytes rather than as they
//! arrive (a few kilobytes each off the socket): the function bodies of one run are validated
//! on all cores at once, and they are most of a large component's validation time. The run
//! being gathered counts as held.
//!
//! Function bodies already validated in an earlier upload are not validated again (see
//! [`KnownBodies`]): a new release of a component keeps most of its code, and validating code is
//! most of an upload's cost. The set is the server's, in memory, and bounded by
//! [`KNOWN_BODIES_PER_GENERATION`].

use std::sync::Arc;
use wasmparser::{Encoding, WasmFeatures};
use wtool_compose::validate::{KnownBodies, Validator};

/// How many bytes are gathered before the validator sees them; enough function bodies for the
/// validator to share them out across cores.
pub const RUN: usize = 2 << 20;

/// Bodies kept per generation of [`KnownBodies`]: at most twice this many digests, about 12 MB,
/// which is twenty releases of an 18 MB componentize-py component (13,353 bodies).
pub const KNOWN_BODIES_PER_GENERATION: usize = 1 << 17;

/// Why content was refused; the message is shown to the publisher.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContentRejection {
    #[error("content is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("content is not valid WebAssembly: {0}")]
    Invalid(String),
    #[error("content is a core WebAssembly module; only components and WIT packages are accepted")]
    CoreModule,
    #[error("content is empty")]
    Empty,
}

#[derive(Clone, Debug)]
pub struct ContentPolicy {
    pub max_bytes: u64,
    /// Off only when an operator explicitly opts out of validation.
    pub validate_wasm: bool,
    pub allow_core_modules: bool,
    /// Bodies validated by earlier uploads, shared by every upload the server checks.
    pub known_bodies: Option<Arc<KnownBodies>>,
}

/// What a check held in memory, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckStats {
    /// The largest number of content bytes held between chunks at once.
    pub peak_buffered: usize,
    /// Bytes of data-segment and custom-section payloads dropped without being looked at.
    pub skipped: u64,
    /// Function bodies known from earlier uploads, and not validated again.
    pub known_bodies: usize,
}

impl ContentPolicy {
    /// The size limit, applied while content streams in, before anything else is known.
    pub fn check_size(&self, seen: u64) -> Result<(), ContentRejection> {
        if seen > self.max_bytes {
            return Err(ContentRejection::TooLarge {
                limit: self.max_bytes,
            });
        }
        Ok(())
    }

    /// Starts checking one upload: [`feed`](ContentCheck::feed) it every chunk as it arrives,
    /// then [`finish`](ContentCheck::finish) it before committing the content.
    pub fn start(&self) -> ContentCheck {
        ContentCheck {
            policy: self.clone(),
            seen: 0,
            validator: self.validate_wasm.then(|| {
                let validator = Validator::new(WasmFeatures::all()).parallel(true);
                match &self.known_bodies {
                    Some(known) => validator.known_bodies(known.clone()),
                    None => validator,
                }
            }),
            run: Vec::new(),
            peak_run: 0,
            failed: None,
        }
    }
}

/// The check of one upload in progress.
pub struct ContentCheck {
    policy: ContentPolicy,
    seen: u64,
    validator: Option<Validator>,
    /// Bytes gathered for the validator's next feed.
    run: Vec<u8>,
    peak_run: usize,
    failed: Option<ContentRejection>,
}

impl ContentCheck {
    /// Checks the next chunk. After a rejection, every call returns it again, except that the
    /// size limit still counts every byte: content already known to be invalid is read on
    /// (so that a wrong digest is reported as such), but never past the limit.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ContentRejection> {
        self.seen += chunk.len() as u64;
        if let Err(r) = self.policy.check_size(self.seen) {
            self.failed = Some(r.clone());
            return Err(r);
        }
        if let Some(r) = &self.failed {
            return Err(r.clone());
        }
        if self.validator.is_none() {
            return Ok(());
        }
        // Until the header is read, a core module is not known for one; the first chunk goes
        // through at once so that it is refused as early as it can be.
        if self.run.is_empty() && (chunk.len() >= RUN || self.seen == chunk.len() as u64) {
            return self.validate(chunk);
        }
        self.run.extend_from_slice(chunk);
        self.peak_run = self.peak_run.max(self.run.len());
        if self.run.len() < RUN {
            return Ok(());
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<(), ContentRejection> {
        if self.run.is_empty() {
            return Ok(());
        }
        let run = std::mem::take(&mut self.run);
        let result = self.validate(&run);
        self.run = run;
        self.run.clear();
        result
    }

    fn validate(&mut self, bytes: &[u8]) -> Result<(), ContentRejection> {
        let Some(validator) = &mut self.validator else {
            return Ok(());
        };
        let fed = validator.feed(bytes).map_err(|e| e.to_string());
        let result = self.rules(fed);
        if let Err(r) = &result {
            self.failed = Some(r.clone());
        }
        result
    }

    /// Ends the content: the verdict, with what was held.
    pub fn finish(self) -> Result<CheckStats, ContentRejection> {
        let (result, stats) = self.finish_with_stats();
        result.map(|()| stats)
    }

    /// [`finish`](Self::finish), also reporting what was held when the content was rejected.
    pub fn finish_with_stats(mut self) -> (Result<(), ContentRejection>, CheckStats) {
        if self.failed.is_none() {
            let _ = self.flush();
        }
        let stats = self.stats();
        if let Some(r) = self.failed.take() {
            return (Err(r), stats);
        }
        if self.seen == 0 {
            return (Err(ContentRejection::Empty), stats);
        }
        let Some(validator) = self.validator.take() else {
            return (Ok(()), stats);
        };
        let core = validator.encoding() == Some(Encoding::Module);
        let finished = validator.finish().map(drop).map_err(|e| e.to_string());
        let result = match (core && !self.policy.allow_core_modules, finished) {
            (true, _) => Err(ContentRejection::CoreModule),
            (false, r) => r.map_err(ContentRejection::Invalid),
        };
        (result, stats)
    }

    /// What was held so far.
    pub fn stats(&self) -> CheckStats {
        let held = self
            .validator
            .as_ref()
            .map(Validator::held)
            .unwrap_or_default();
        CheckStats {
            peak_buffered: held.peak + self.peak_run,
            skipped: held.skipped,
            known_bodies: held.known_bodies,
        }
    }

    /// A core module is refused as such, before (and whatever) validation says of it.
    fn rules(&self, validated: Result<(), String>) -> Result<(), ContentRejection> {
        let core = self
            .validator
            .as_ref()
            .is_some_and(|v| v.encoding() == Some(Encoding::Module));
        if core && !self.policy.allow_core_modules {
            return Err(ContentRejection::CoreModule);
        }
        validated.map_err(ContentRejection::Invalid)
    }
}

#[cfg(test)]
mod tests;
