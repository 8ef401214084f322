//! The HTTP front ends. Each protocol has its own folder (warg v1 in [`warg`], OCI distribution
//! in [`oci`], the package browser in [`web`]); handlers parse the request, call the service and
//! translate its answer, nothing else. This module holds what they share: the router, request
//! limits, the error type and the extractors.

mod error;
mod extract;
mod meta;
mod oci;
mod warg;
mod web;

pub(crate) use oci::parse_content_range;

pub(crate) use error::{json, json_bytes, ApiError};
pub(crate) use extract::{bearer, parse_hash, parse_json, truncate, ApiJson, JsonBody, Segments};
pub(crate) use web::Web;

use crate::service::Service;
use axum::{
    body::Body,
    extract::{Request, State},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use std::{sync::Arc, time::Duration};

/// Everything the handlers need.
pub(crate) struct AppState {
    pub service: Service,
    pub public_url: url::Url,
    pub max_json_bytes: usize,
    pub request_timeout: Duration,
    pub transfer_timeout: Duration,
    pub warg: warg::Caches,
    /// The package browser's caches.
    pub web: web::Web,
    /// Whether `[web] enabled` mounts the browser.
    pub web_enabled: bool,
}

pub(crate) type Shared = Arc<AppState>;

/// Federation is not supported; the reference server answers the same way.
fn registry_header(req: &Request) -> Result<(), ApiError> {
    if req
        .headers()
        .contains_key(warg_api::v1::REGISTRY_HEADER_NAME)
    {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "the `Warg-Registry` header is not supported",
        ));
    }
    Ok(())
}

/// API reads may require a token. Uploads and downloads never do: the client sends no
/// credentials there, and their URLs are unguessable.
fn read_access(state: &AppState, req: &Request) -> Result<(), ApiError> {
    let path = req.uri().path();
    if !path.starts_with("/v1/") || path.starts_with("/v1/upload/") {
        return Ok(());
    }
    state
        .service
        .authorize_read(bearer(req.headers()))
        .map_err(ApiError::from)
}

/// Whether a request tries to authenticate: a token or password in a header, a session
/// cookie, or the login form.
fn carries_credentials(req: &Request) -> bool {
    let headers = req.headers();
    headers.contains_key(axum::http::header::AUTHORIZATION)
        || headers.contains_key(axum::http::header::COOKIE)
        || (req.method() == axum::http::Method::POST && req.uri().path() == web::LOGIN_PATH)
}

async fn limits(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let guess_from = crate::connections::peer(&req)
        .map(|a| a.ip())
        .filter(|_| carries_credentials(&req));
    if let Some(addr) = guess_from {
        if let Err(wait) = state.service.auth_allowed(addr) {
            let mut res = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many failed authentications from {addr}; try again in {} s",
                    wait.as_secs().max(1)
                ),
            )
            .into_response();
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(wait.as_secs().max(1)),
            );
            state.service.metrics().request(res.status().as_u16());
            return res;
        }
    }
    if let Err(e) = registry_header(&req).and_then(|()| read_access(&state, &req)) {
        let res = e.into_response();
        if let (Some(addr), StatusCode::UNAUTHORIZED) = (guess_from, res.status()) {
            state.service.auth_failed(addr);
        }
        state.service.metrics().request(res.status().as_u16());
        return res;
    }
    let path = req.uri().path();
    let transfer = path.starts_with("/v1/upload/")
        || path.starts_with("/content/")
        || (path.starts_with("/v2/") && path.contains("/blobs/"));
    let limit = if transfer {
        state.transfer_timeout
    } else {
        state.request_timeout
    };
    let method = req.method().clone();
    let uri = req.uri().clone();
    let started = std::time::Instant::now();
    let res = match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "the request took too long").into_response()
        }
    };
    if let (Some(addr), StatusCode::UNAUTHORIZED) = (guess_from, res.status()) {
        state.service.auth_failed(addr);
    }
    let status = res.status().as_u16();
    state.service.metrics().request(status);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if res.status().is_server_error() {
        tracing::warn!(%method, path = %truncate(uri.path()), status, elapsed_ms, "request failed");
    } else {
        tracing::debug!(%method, path = %truncate(uri.path()), status, elapsed_ms, "request");
    }
    res
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "the requested resource was not found",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "the method is not allowed for this resource",
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("request handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
}

pub(crate) fn router(state: Shared) -> Router {
    let browser = if state.web_enabled {
        web::routes()
    } else {
        Router::new()
    };
    Router::new()
        .route("/.well-known/wasm-pkg/registry.json", get(meta::well_known))
        .route("/healthz", get(meta::healthz))
        .route("/metrics", get(meta::metrics))
        .merge(warg::routes())
        .merge(oci::routes())
        .merge(browser)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), limits))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .with_state(state)
}
