//! Checkpoints, logs and package names.

use crate::{
    api::{json, json_bytes, parse_json, ApiError, ApiJson, JsonBody, Shared},
    service::FetchLogsQuery,
};
use axum::{extract::State, http::StatusCode, response::Response};
use bytes::Bytes;
use std::collections::{hash_map::RandomState, HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::RwLock;
use warg_api::v1::fetch::{
    FetchError, FetchLogsRequest, FetchPackageNamesRequest, FetchPackageNamesResponse,
};

const DEFAULT_LIMIT: u16 = 100;
const MAX_LIMIT: u16 = 1000;

pub(super) async fn checkpoint(State(state): State<Shared>) -> Result<Response, ApiError> {
    let checkpoint = state
        .service
        .latest_checkpoint()
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no checkpoint yet"))?;
    Ok(json(StatusCode::OK, &checkpoint))
}

/// Successful `fetch/logs` answers keyed by the exact request body. An answer only covers
/// records inside the requested checkpoint, which never change, so it stays right forever; only
/// successes are kept (a fetch token or log unknown now may exist later). Bounded in bytes by
/// starting afresh.
///
/// An answer is kept from the second time its request is asked. A warg client that follows a
/// growing log (a publisher, a mirror) asks each request once, with a new log length each time;
/// keeping those answers only filled the cache to its bound and starved the requests that do
/// repeat. Requests asked once are remembered by a keyed hash, a few bytes each.
#[derive(Default)]
pub(super) struct LogsCache(RwLock<Answers>);

#[derive(Default)]
struct Answers {
    by_request: HashMap<Bytes, Bytes>,
    bytes: usize,
    asked_once: HashSet<u64>,
    keys: RandomState,
}

const LOGS_CACHE_BYTES: usize = 16 * 1024 * 1024;
/// Requests remembered as asked once, before the memory starts afresh.
const ASKED_ONCE: usize = 65_536;

impl LogsCache {
    fn get(&self, request: &[u8]) -> Option<Bytes> {
        let cache = self.0.read().unwrap_or_else(|e| e.into_inner());
        cache.by_request.get(request).cloned()
    }

    fn insert(&self, request: Bytes, response: Bytes) {
        let size = request.len() + response.len();
        if size > LOGS_CACHE_BYTES / 16 {
            return;
        }
        let mut cache = self.0.write().unwrap_or_else(|e| e.into_inner());
        let asked = cache.keys.hash_one(&request[..]);
        if !cache.asked_once.remove(&asked) {
            if cache.asked_once.len() >= ASKED_ONCE {
                cache.asked_once.clear();
            }
            cache.asked_once.insert(asked);
            return;
        }
        if cache.bytes + size > LOGS_CACHE_BYTES {
            cache.by_request.clear();
            cache.bytes = 0;
        }
        // A copy, so the key does not keep the connection's read buffer alive.
        let request = Bytes::copy_from_slice(&request);
        if cache.by_request.insert(request, response).is_none() {
            cache.bytes += size;
        }
    }
}

pub(super) async fn logs(
    State(state): State<Shared>,
    JsonBody(request): JsonBody,
) -> Result<Response, ApiError> {
    if let Some(body) = state.warg.logs.get(&request) {
        return Ok(json_bytes(StatusCode::OK, body));
    }
    let body: FetchLogsRequest<'static> = parse_json(&request)?;
    let limit = body.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(FetchError::Message {
            status: 400,
            message: format!(
                "invalid records limit value `{limit}`: must be between 1 and {MAX_LIMIT}"
            ),
        }
        .into());
    }
    let query = FetchLogsQuery {
        log_length: body.log_length,
        limit,
        operator: body.operator.as_deref(),
        packages: &body.packages,
    };
    let body = Bytes::from(state.service.fetch_logs(query)?);
    state.warg.logs.insert(request, body.clone());
    Ok(json_bytes(StatusCode::OK, body))
}

pub(super) async fn names(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<FetchPackageNamesRequest<'static>>,
) -> Result<Response, ApiError> {
    let packages = state.service.package_names(&body.packages)?;
    Ok(json(
        StatusCode::OK,
        &FetchPackageNamesResponse { packages },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_kept_from_the_second_time_its_request_is_asked() {
        let cache = LogsCache::default();
        let (a, b) = (
            Bytes::from_static(b"{\"logLength\":7}"),
            Bytes::from_static(b"{}"),
        );
        cache.insert(a.clone(), b.clone());
        assert_eq!(cache.get(&a), None, "asked once: not kept");
        cache.insert(a.clone(), b.clone());
        assert_eq!(cache.get(&a), Some(b.clone()));
        // Requests that never come again leave nothing but their hashes.
        for n in 0..1000 {
            cache.insert(Bytes::from(format!("{{\"logLength\":{n}}}")), b.clone());
        }
        let held = cache.0.read().unwrap();
        assert_eq!(held.by_request.len(), 1);
        assert!(held.asked_once.len() <= ASKED_ONCE);
    }
}
