//! Parsing requests at the edge: JSON bodies, path segments, digests and bearer tokens. Every
//! refusal is an [`ApiError`], so handlers use `?`.

use super::{ApiError, Shared};
use axum::{
    extract::{FromRequest, FromRequestParts, Path, Request},
    http::{header, request::Parts, HeaderMap, StatusCode},
};
use serde::de::DeserializeOwned;
use warg_crypto::hash::AnyHash;

/// A JSON body extractor whose rejections are JSON too (axum's are text/plain).
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Shared> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        let JsonBody(bytes) = JsonBody::from_request(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The raw body of a request that declares `Content-Type: application/json`, within the size
/// limit; [`parse_json`] turns it into a value with the same errors as [`ApiJson`].
pub(crate) struct JsonBody(pub bytes::Bytes);

impl FromRequest<Shared> for JsonBody {
    type Rejection = ApiError;

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
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::to_bytes(req.into_body(), state.max_json_bytes)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body is larger than {} bytes", state.max_json_bytes),
                )
            })?;
        Ok(JsonBody(bytes))
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match T::deserialize(&mut de).and_then(|v| de.end().map(|_| v)) {
        Ok(v) => Ok(v),
        Err(e) if e.is_data() => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid request body: {e}"),
        )),
        Err(e) => Err(ApiError::bad_request(format!("malformed JSON body: {e}"))),
    }
}

/// Path parameters, refused as a JSON 400.
pub(crate) struct Segments<T>(pub T);

impl<T, S> FromRequestParts<S> for Segments<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Segments(value)),
            Err(e) => Err(ApiError::bad_request(format!("invalid path: {e}"))),
        }
    }
}

/// Parses a `sha256:<64 lowercase hex>` digest; anything else is refused at the edge.
pub(crate) fn parse_hash(raw: &str, what: &str) -> Result<AnyHash, ApiError> {
    let valid = raw.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if !valid {
        return Err(ApiError::bad_request(format!(
            "invalid {what} `{}`: expected `sha256:` and 64 lowercase hex digits",
            truncate(raw)
        )));
    }
    raw.parse::<AnyHash>()
        .map_err(|e| ApiError::bad_request(format!("invalid {what}: {e}")))
}

/// The token of an `Authorization: Bearer …` header. A header in any other form yields an
/// empty token, which no check accepts: a malformed credential is refused, not ignored.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?;
    let token = value.to_str().ok().and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    });
    Some(token.map(str::trim).unwrap_or(""))
}

/// Keeps echoed request data short in error messages and logs.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(100).collect()
}
