//! Checkpoints, logs and package names.

use crate::{
    api::{json, json_bytes, parse_json, ApiError, ApiJson, JsonBody, Shared},
    service::FetchLogsQuery,
};
use axum::{extract::State, http::StatusCode, response::Response};
use bytes::Bytes;
use std::{collections::HashMap, sync::RwLock};
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
#[derive(Default)]
pub(super) struct LogsCache(RwLock<(HashMap<Bytes, Bytes>, usize)>);

const LOGS_CACHE_BYTES: usize = 16 * 1024 * 1024;

impl LogsCache {
    fn get(&self, request: &[u8]) -> Option<Bytes> {
        let cache = self.0.read().unwrap_or_else(|e| e.into_inner());
        cache.0.get(request).cloned()
    }

    fn insert(&self, request: Bytes, response: Bytes) {
        let size = request.len() + response.len();
        if size > LOGS_CACHE_BYTES / 16 {
            return;
        }
        let mut cache = self.0.write().unwrap_or_else(|e| e.into_inner());
        if cache.1 + size > LOGS_CACHE_BYTES {
            cache.0.clear();
            cache.1 = 0;
        }
        // A copy, so the key does not keep the connection's read buffer alive.
        let request = Bytes::copy_from_slice(&request);
        if cache.0.insert(request, response).is_none() {
            cache.1 += size;
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
