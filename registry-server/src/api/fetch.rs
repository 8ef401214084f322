use super::{api_error, json, json_bytes, message, parse_json, ApiJson, JsonBody, Shared};
use crate::service::FetchLogsQuery;
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use std::{collections::HashMap, sync::RwLock};
use warg_api::v1::fetch::{
    FetchError, FetchLogsRequest, FetchPackageNamesRequest, FetchPackageNamesResponse,
};

const DEFAULT_LIMIT: u16 = 100;
const MAX_LIMIT: u16 = 1000;

pub async fn checkpoint(State(state): State<Shared>) -> Response {
    match state.service.latest_checkpoint() {
        Some(cp) => json(StatusCode::OK, &cp),
        None => message(StatusCode::SERVICE_UNAVAILABLE, "no checkpoint yet"),
    }
}

/// Successful `fetch/logs` answers keyed by the exact request body. An answer only covers
/// records inside the requested checkpoint, which never change, so it stays right forever; only
/// successes are kept (a fetch token or log unknown now may exist later). Bounded in bytes by
/// starting afresh.
#[derive(Default)]
pub struct LogsCache(RwLock<(HashMap<Bytes, Bytes>, usize)>);

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

pub async fn logs(State(state): State<Shared>, JsonBody(request): JsonBody) -> Response {
    if let Some(body) = state.logs_cache.get(&request) {
        return json_bytes(StatusCode::OK, body);
    }
    let body: FetchLogsRequest<'static> = match parse_json(&request) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let limit = body.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        let e = FetchError::Message {
            status: 400,
            message: format!(
                "invalid records limit value `{limit}`: must be between 1 and {MAX_LIMIT}"
            ),
        };
        return api_error(400, &e);
    }
    let query = FetchLogsQuery {
        log_length: body.log_length,
        limit,
        operator: body.operator.as_deref(),
        packages: &body.packages,
    };
    match state.service.fetch_logs(query) {
        Ok(body) => {
            let body = Bytes::from(body);
            state.logs_cache.insert(request, body.clone());
            json_bytes(StatusCode::OK, body)
        }
        Err(e) => api_error(e.status(), &e),
    }
}

pub async fn names(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<FetchPackageNamesRequest<'static>>,
) -> Response {
    match state.service.package_names(&body.packages) {
        Ok(packages) => json(StatusCode::OK, &FetchPackageNamesResponse { packages }),
        Err(e) => api_error(e.status(), &e),
    }
}
