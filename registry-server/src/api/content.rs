use super::{api_error, json, message, parse_hash, truncate, Shared};
use axum::{
    body::Body,
    extract::{rejection::PathRejection, Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use indexmap::IndexMap;
use warg_api::v1::content::{ContentError, ContentSource, ContentSourcesResponse};
use warg_crypto::hash::AnyHash;

pub async fn sources(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let raw = match path {
        Ok(Path(p)) => p,
        Err(e) => return message(StatusCode::BAD_REQUEST, format!("invalid path: {e}")),
    };
    let digest = match parse_hash(&raw, "content digest") {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let Some(size) = state.service.blobs().size(&digest) else {
        let e = ContentError::ContentDigestNotFound(digest);
        return api_error(e.status(), &e);
    };
    let hex = hex::encode(digest.bytes());
    // Absolute, because the client hands this URL straight to its HTTP library.
    let url = match state.public_url.join(&format!("content/sha256-{hex}")) {
        Ok(u) => u.to_string(),
        Err(e) => return message(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let mut content_sources = IndexMap::new();
    content_sources.insert(
        digest,
        vec![ContentSource::HttpGet {
            url,
            accept_ranges: false,
            size: Some(size),
        }],
    );
    json(StatusCode::OK, &ContentSourcesResponse { content_sources })
}

pub async fn download(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let raw = match path {
        Ok(Path(p)) => p,
        Err(e) => return message(StatusCode::BAD_REQUEST, format!("invalid path: {e}")),
    };
    let parsed = raw
        .strip_prefix("sha256-")
        .and_then(|hex| parse_hash(&format!("sha256:{hex}"), "content digest").ok());
    let digest: AnyHash = match parsed {
        Some(d) => d,
        None => {
            return message(
                StatusCode::NOT_FOUND,
                format!("no content named `{}`", truncate(&raw)),
            )
        }
    };
    let Some(path) = state.service.blobs().path(&digest) else {
        let e = ContentError::ContentDigestNotFound(digest);
        return api_error(e.status(), &e);
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!("cannot open blob: {e}");
            return message(StatusCode::INTERNAL_SERVER_ERROR, "cannot read content");
        }
    };
    let len = file.metadata().await.map(|m| m.len()).ok();
    state.service.metrics().download();
    // Streamed from disk, so memory stays flat whatever the blob size.
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024));
    let mut res = (StatusCode::OK, body).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/wasm"),
    );
    if let Some(len) = len {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    res
}
