//! The error every handler returns, and the exact JSON shapes it is written in.

use crate::{service::AuthError, store::StoreError};
use axum::{
    body::Body,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// A refused request, answered as JSON with `Content-Type: application/json` exactly (the warg
/// client compares it byte for byte).
#[derive(Debug)]
pub(crate) enum ApiError {
    /// The generic shape every warg error enum accepts: `{"status": N, "message": "…"}`.
    Message(StatusCode, String),
    /// A `warg-api` error enum, serialised, with the status it declares.
    Typed(StatusCode, Vec<u8>),
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError::Message(status, message.into())
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A server-side failure: the details go to the log, the client gets `message` only.
    pub(crate) fn internal(message: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!("{message}: {detail}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// A store failure: 507 when its disk is full, 503 when a shared backend is away (the
    /// client may retry), 500 else.
    pub(crate) fn store(message: &str, e: &StoreError) -> Self {
        if e.is_full() {
            tracing::error!("{message}: {e}");
            return Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("{message}: {}", crate::store::FULL),
            );
        }
        match e {
            StoreError::Unavailable(why) => {
                tracing::warn!("{message}: {why}");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{message}: the registry's store is unavailable: {why}"),
                )
            }
            e => Self::internal(message, e),
        }
    }

    /// Renders a `warg-api` error enum with the status it declares.
    pub(crate) fn typed<E: Serialize>(status: u16, error: &E) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match serde_json::to_vec(error) {
            Ok(body) => ApiError::Typed(status, body),
            Err(e) => Self::internal("serialisation failed", e),
        }
    }
}

/// Each `warg-api` error enum knows its own status.
macro_rules! warg_errors {
    ($($error:ty),*) => {$(
        impl From<$error> for ApiError {
            fn from(e: $error) -> Self {
                ApiError::typed(e.status(), &e)
            }
        }
    )*};
}

warg_errors!(
    warg_api::v1::content::ContentError,
    warg_api::v1::fetch::FetchError,
    warg_api::v1::package::PackageError,
    warg_api::v1::proof::ProofError
);

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(detail) => ApiError::store("token lookup failed", &detail),
            refused => ApiError::new(StatusCode::UNAUTHORIZED, refused.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Message(status, message) => message_response(status, message),
            ApiError::Typed(status, body) => json_bytes(status, body),
        }
    }
}

fn message_response(status: StatusCode, message: String) -> Response {
    #[derive(Serialize)]
    struct Body {
        status: u16,
        message: String,
    }
    json(
        status,
        &Body {
            status: status.as_u16(),
            message,
        },
    )
}

/// Serialises `body` with exactly `Content-Type: application/json`.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => json_bytes(status, bytes),
        Err(e) => ApiError::internal("serialisation failed", e).into_response(),
    }
}

/// A body that is already JSON, with exactly `Content-Type: application/json`.
pub(crate) fn json_bytes(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut res = (status, body.into()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
