//! The HTTP layer: routes, exact JSON (and error) shapes, limits. Business rules live in
//! `service`; this module only translates.

pub mod content;
pub mod fetch;
mod misc;
mod package;
mod proof;

use crate::{
    policy::{AuthorizedKeys, ContentPolicy},
    service::Service,
};
use axum::{
    body::Body,
    extract::{FromRequest, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use serde::{de::DeserializeOwned, Serialize};
use std::{sync::Arc, time::Duration};
use warg_crypto::hash::AnyHash;

/// Everything the handlers need.
pub struct AppState {
    pub service: Service,
    pub public_url: url::Url,
    pub content_policy: ContentPolicy,
    pub authorized_keys: AuthorizedKeys,
    pub allow_anonymous_publish: bool,
    pub require_read_token: bool,
    pub max_json_bytes: usize,
    pub request_timeout: Duration,
    pub transfer_timeout: Duration,
    /// `content/{digest}` answers, which never change once the blob exists.
    pub sources_cache: content::SourcesCache,
    /// Successful `fetch/logs` answers by request body, which never change either.
    pub logs_cache: fetch::LogsCache,
}

pub type Shared = Arc<AppState>;

/// Serialises `body` with exactly `Content-Type: application/json`, which the warg client
/// compares byte for byte.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => json_bytes(status, bytes),
        Err(e) => message(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("serialisation failed: {e}"),
        ),
    }
}

/// A body that is already JSON, with exactly `Content-Type: application/json`.
pub fn json_bytes(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut res = (status, body.into()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// The generic error shape every warg error enum accepts: `{"status": N, "message": "…"}`.
pub fn message(status: StatusCode, message: impl Into<String>) -> Response {
    #[derive(Serialize)]
    struct Body {
        status: u16,
        message: String,
    }
    json(
        status,
        &Body {
            status: status.as_u16(),
            message: message.into(),
        },
    )
}

/// Renders a `warg-api` error enum with the status it declares.
pub fn api_error<E: Serialize>(status: u16, error: &E) -> Response {
    json(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        error,
    )
}

/// A JSON body extractor whose rejections are JSON too (axum's are text/plain).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Shared> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        let JsonBody(bytes) = JsonBody::from_request(req, state).await?;
        parse_json(&bytes)
            .map(ApiJson)
            .map_err(IntoResponse::into_response)
    }
}

/// The raw body of a request that declares `Content-Type: application/json`, within the size
/// limit; [`parse_json`] turns it into a value with the same errors as [`ApiJson`].
pub struct JsonBody(pub bytes::Bytes);

impl FromRequest<Shared> for JsonBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(message(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::to_bytes(req.into_body(), state.max_json_bytes)
            .await
            .map_err(|_| {
                message(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body is larger than {} bytes", state.max_json_bytes),
                )
            })?;
        Ok(JsonBody(bytes))
    }
}

/// Why a JSON body was refused; answered as the generic JSON error shape.
pub struct BadJson(StatusCode, String);

impl IntoResponse for BadJson {
    fn into_response(self) -> Response {
        message(self.0, self.1)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BadJson> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match T::deserialize(&mut de).and_then(|v| de.end().map(|_| v)) {
        Ok(v) => Ok(v),
        Err(e) if e.is_data() => Err(BadJson(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid request body: {e}"),
        )),
        Err(e) => Err(BadJson(
            StatusCode::BAD_REQUEST,
            format!("malformed JSON body: {e}"),
        )),
    }
}

/// A request refused at the edge, answered as a JSON 400.
pub struct BadRequest(String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        message(StatusCode::BAD_REQUEST, self.0)
    }
}

/// Parses a `sha256:<64 lowercase hex>` path segment; anything else is refused at the edge.
pub fn parse_hash(raw: &str, what: &str) -> Result<AnyHash, BadRequest> {
    let valid = raw.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if !valid {
        return Err(BadRequest(format!(
            "invalid {what} `{}`: expected `sha256:` and 64 lowercase hex digits",
            truncate(raw)
        )));
    }
    raw.parse::<AnyHash>()
        .map_err(|e| BadRequest(format!("invalid {what}: {e}")))
}

/// Keeps echoed request data short in error messages and logs.
pub fn truncate(s: &str) -> String {
    s.chars().take(100).collect()
}

/// Federation is not supported; the reference server answers the same way.
fn registry_header(headers: &HeaderMap) -> Option<Response> {
    headers
        .contains_key(warg_api::v1::REGISTRY_HEADER_NAME)
        .then(|| {
            message(
                StatusCode::NOT_IMPLEMENTED,
                "the `Warg-Registry` header is not supported",
            )
        })
}

async fn limits(State(state): State<Shared>, req: Request, next: Next) -> Response {
    if let Some(res) = registry_header(req.headers()) {
        state.service.metrics().request(res.status().as_u16());
        return res;
    }
    let path = req.uri().path();
    if state.require_read_token && path.starts_with("/v1/") && !path.starts_with("/v1/upload/") {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let refusal = match crate::auth::has_valid_token(state.service.store().as_ref(), header) {
            Ok(true) => None,
            Ok(false) => Some(message(
                StatusCode::UNAUTHORIZED,
                "this registry requires a bearer token for reads",
            )),
            Err(e) => {
                tracing::error!("token lookup failed: {e}");
                Some(message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "token lookup failed",
                ))
            }
        };
        if let Some(res) = refusal {
            state.service.metrics().request(res.status().as_u16());
            return res;
        }
    }
    let transfer = path.starts_with("/v1/upload/") || path.starts_with("/content/");
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
        Err(_) => message(StatusCode::REQUEST_TIMEOUT, "the request took too long"),
    };
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

async fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "the requested resource was not found",
    )
}

async fn method_not_allowed() -> Response {
    message(
        StatusCode::METHOD_NOT_ALLOWED,
        "the method is not allowed for this resource",
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("request handler panicked");
    message(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/.well-known/wasm-pkg/registry.json", get(misc::well_known))
        .route("/healthz", get(misc::healthz))
        .route("/metrics", get(misc::metrics))
        .route("/v1/fetch/checkpoint", get(fetch::checkpoint))
        .route("/v1/fetch/logs", post(fetch::logs))
        .route("/v1/fetch/names", post(fetch::names))
        .route("/v1/proof/inclusion", post(proof::inclusion))
        .route("/v1/proof/consistency", post(proof::consistency))
        .route("/v1/package/{log_id}/record", post(package::publish))
        .route(
            "/v1/package/{log_id}/record/{record_id}",
            get(package::status),
        )
        .route(
            "/v1/upload/{nonce}",
            post(package::upload).put(package::upload),
        )
        .route("/v1/content/{digest}", get(content::sources))
        .route("/content/{file}", get(content::download))
        .route("/v1/ledger", get(misc::ledger))
        .route("/v1/ledger/records/{start}", get(misc::ledger_records))
        .route("/v1/verify/checkpoint", post(misc::verify_checkpoint))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), limits))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .with_state(state)
}
