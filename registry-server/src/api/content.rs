use super::{api_error, json_bytes, message, parse_hash, truncate, Shared};
use axum::{
    body::Body,
    extract::{rejection::PathRejection, Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use indexmap::IndexMap;
use std::{collections::HashMap, sync::RwLock};
use warg_api::v1::content::{ContentError, ContentSource, ContentSourcesResponse};
use warg_crypto::hash::AnyHash;

/// Serialised `content/{digest}` answers by digest. Blobs are immutable and never deleted, so
/// an entry stays right for the life of the process; the map is bounded by starting afresh.
#[derive(Default)]
pub struct SourcesCache(RwLock<HashMap<AnyHash, Bytes>>);

/// Read size for downloads.
const DOWNLOAD_CHUNK: usize = 256 * 1024;

/// The file's bytes in chunks of [`DOWNLOAD_CHUNK`], each read on the blocking pool straight
/// into the buffer that is sent (no intermediate copy), one chunk in flight at a time.
fn file_chunks(
    file: std::fs::File,
    len: u64,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    futures_util::stream::try_unfold((file, len), |(mut file, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let n = left.min(DOWNLOAD_CHUNK as u64) as usize;
        // Allocated here rather than on the blocking thread: the buffer is freed on this side
        // once sent, and allocating and freeing on the same thread keeps the allocator from
        // holding freed chunks in one arena per blocking thread.
        let mut buf = Vec::with_capacity(n);
        let (file, chunk) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            use std::io::Read;
            // Read into spare capacity: no zeroing of the buffer first.
            (&mut file).take(n as u64).read_to_end(&mut buf)?;
            if buf.len() < n {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            Ok((file, buf))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(Some((Bytes::from(chunk), (file, left - n as u64))))
    })
}

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
    if let Some(body) = state.sources_cache.get(&digest) {
        return json_bytes(StatusCode::OK, body);
    }
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
        digest.clone(),
        vec![ContentSource::HttpGet {
            url,
            accept_ranges: false,
            size: Some(size),
        }],
    );
    match serde_json::to_vec(&ContentSourcesResponse { content_sources }) {
        Ok(body) => {
            let body = Bytes::from(body);
            state.sources_cache.insert(digest, body.clone());
            json_bytes(StatusCode::OK, body)
        }
        Err(e) => message(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("serialisation failed: {e}"),
        ),
    }
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
    let (file, len) = match state.service.blobs().open(&digest) {
        Ok(Some(found)) => found,
        Ok(None) => {
            let e = ContentError::ContentDigestNotFound(digest);
            return api_error(e.status(), &e);
        }
        Err(e) => {
            tracing::error!("cannot open blob: {e}");
            return message(StatusCode::INTERNAL_SERVER_ERROR, "cannot read content");
        }
    };
    state.service.metrics().download();
    // Streamed from disk in bounded chunks, so memory stays flat whatever the blob size.
    let body = Body::from_stream(file_chunks(file, len));
    let mut res = (StatusCode::OK, body).into_response();
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
    res
}
