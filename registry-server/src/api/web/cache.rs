//! The browser's two caches: rendered pages, valid until the next checkpoint, and content
//! descriptions, valid forever (content never changes).

use super::Format;
use crate::service::describe::Described;
use axum::{body::Bytes, http::StatusCode};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use warg_crypto::hash::AnyHash;

/// Most pages kept for one checkpoint; past this the cache starts over, so that requests for
/// many distinct (or made-up) paths cannot grow it without bound.
const MAX_PAGES: usize = 4096;
/// Most content descriptions kept.
const MAX_DESCRIPTIONS: usize = 16384;

#[derive(Default)]
struct Pages {
    generation: usize,
    pages: HashMap<(String, Format), (StatusCode, Bytes)>,
}

/// The browser's state.
pub(crate) struct Web {
    /// `host[:port]` of the public URL, for the commands a version page shows.
    pub registry_host: String,
    pages: Mutex<Pages>,
    descriptions: Mutex<HashMap<AnyHash, Arc<Described>>>,
}

impl Web {
    pub(crate) fn new(public_url: &url::Url) -> Self {
        let host = public_url.host_str().unwrap_or("localhost");
        let registry_host = match public_url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Self {
            registry_host,
            pages: Mutex::default(),
            descriptions: Mutex::default(),
        }
    }

    pub(super) fn page(
        &self,
        generation: usize,
        key: &str,
        format: Format,
    ) -> Option<(StatusCode, Bytes)> {
        let pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        if pages.generation != generation {
            return None;
        }
        pages.pages.get(&(key.to_string(), format)).cloned()
    }

    pub(super) fn keep(
        &self,
        generation: usize,
        key: String,
        format: Format,
        status: StatusCode,
        body: Bytes,
    ) {
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        if pages.generation != generation || pages.pages.len() >= MAX_PAGES {
            pages.generation = generation;
            pages.pages.clear();
        }
        pages.pages.insert((key, format), (status, body));
    }

    pub(super) fn description(&self, digest: &AnyHash) -> Option<Arc<Described>> {
        self.descriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .cloned()
    }

    pub(super) fn keep_description(
        &self,
        digest: &AnyHash,
        described: Described,
    ) -> Arc<Described> {
        let described = Arc::new(described);
        let mut all = self.descriptions.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() >= MAX_DESCRIPTIONS {
            all.clear();
        }
        all.insert(digest.clone(), described.clone());
        described
    }
}
