//! Where content is (`v1/content/{digest}`) and the content itself (`content/sha256-<hex>`).

use crate::{
    api::{json_bytes, parse_hash, truncate, ApiError, Segments, Shared},
    store::Content,
};
use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use bytes::Bytes;
use indexmap::IndexMap;
use std::{collections::HashMap, sync::RwLock};
use warg_api::v1::content::{ContentError, ContentSource, ContentSourcesResponse};
use warg_crypto::hash::AnyHash;

/// Serialised `content/{digest}` answers by digest. Blobs are immutable and never deleted, so
/// an entry stays right for the life of the process; the map is bounded by starting afresh.
#[derive(Default)]
pub(super) struct SourcesCache(RwLock<HashMap<AnyHash, Bytes>>);

const SOURCES_CACHE_ENTRIES: usize = 16_384;

impl SourcesCache {
    fn get(&self, digest: &AnyHash) -> Option<Bytes> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .cloned()
    }

    fn insert(&self, digest: AnyHash, body: Bytes) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= SOURCES_CACHE_ENTRIES {
            map.clear();
        }
        map.insert(digest, body);
    }
}

fn read_failed(e: crate::store::StoreError) -> ApiError {
    ApiError::store("cannot read content", &e)
}

pub(super) async fn sources(
    State(state): State<Shared>,
    Segments(raw): Segments<String>,
) -> Result<Response, ApiError> {
    let digest = parse_hash(&raw, "content digest")?;
    if let Some(body) = state.warg.sources.get(&digest) {
        return Ok(json_bytes(StatusCode::OK, body));
    }
    let size = state
        .service
        .content_size(&digest)
        .await
        .map_err(read_failed)?
        .ok_or_else(|| ContentError::ContentDigestNotFound(digest.clone()))?;
    let hex = hex::encode(digest.bytes());
    // Absolute, because the client hands this URL straight to its HTTP library.
    let url = state
        .public_url
        .join(&format!("content/sha256-{hex}"))
        .map_err(|e| ApiError::internal("cannot build the content URL", e))?;
    let mut content_sources = IndexMap::new();
    content_sources.insert(
        digest.clone(),
        vec![ContentSource::HttpGet {
            url: url.to_string(),
            accept_ranges: false,
            size: Some(size),
        }],
    );
    let body = serde_json::to_vec(&ContentSourcesResponse { content_sources })
        .map_err(|e| ApiError::internal("serialisation failed", e))?;
    let body = Bytes::from(body);
    state.warg.sources.insert(digest, body.clone());
    Ok(json_bytes(StatusCode::OK, body))
}

pub(super) async fn download(
    State(state): State<Shared>,
    Segments(raw): Segments<String>,
) -> Result<Response, ApiError> {
    let digest = raw
        .strip_prefix("sha256-")
        .and_then(|hex| parse_hash(&format!("sha256:{hex}"), "content digest").ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no content named `{}`", truncate(&raw)),
            )
        })?;
    let content = state
        .service
        .read_content(&digest)
        .await
        .map_err(read_failed)?
        .ok_or(ContentError::ContentDigestNotFound(digest))?;
    let (len, body) = match content {
        Content::Stream { len, body } => (len, body),
        Content::Redirect(url) => return Ok(Redirect::temporary(url.as_str()).into_response()),
    };
    // Streamed in bounded chunks, so memory stays flat whatever the blob size.
    let mut res = (StatusCode::OK, Body::from_stream(body)).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/wasm"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(res)
}
