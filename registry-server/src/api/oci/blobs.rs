//! Blob reads and uploads.

use super::{empty, param, query, upload_headers, Answer, Refusal, CONTENT_DIGEST};
use crate::{
    api::Shared,
    digest::Digest,
    service::oci::{Action, Code, Identity, MonolithicOutcome, OciError, Repo},
    store::Content,
};
use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};

fn digest_of(raw: &str) -> Result<Digest, Refusal> {
    Digest::parse(raw).map_err(|e| OciError::new(Code::DigestInvalid, e.to_string()).into())
}

fn blob_headers(res: &mut Response, digest: &Digest, len: u64) {
    let h = res.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::try_from(digest.to_string()) {
        h.insert(CONTENT_DIGEST, v);
    }
}

pub(super) async fn get(
    state: &Shared,
    _repo: &Repo,
    raw: &str,
    range: Option<String>,
    head: bool,
) -> Answer {
    let digest = digest_of(raw).map_err(|r| {
        // A digest that cannot exist names no blob.
        if head {
            OciError::new(Code::BlobUnknown, "no such blob").into()
        } else {
            r
        }
    })?;
    let service = &state.service;
    if head {
        let len = service.oci_blob_size(&digest).await?;
        let mut res = StatusCode::OK.into_response();
        blob_headers(&mut res, &digest, len);
        return Ok(res);
    }
    let read = match service.oci_read_blob(&digest, range.as_deref()).await {
        Ok(read) => read,
        Err(e) if e.code == Code::RangeInvalid => {
            let total = service.oci_blob_size(&digest).await.unwrap_or(0);
            let mut res = Refusal::from(e).into_response();
            if let Ok(v) = HeaderValue::try_from(format!("bytes */{total}")) {
                res.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(res);
        }
        Err(e) => return Err(e.into()),
    };
    Ok(match read {
        crate::service::oci::BlobRead::Whole(Content::Redirect(url)) => {
            Redirect::temporary(url.as_str()).into_response()
        }
        crate::service::oci::BlobRead::Whole(Content::Stream { len, body }) => {
            let mut res = (StatusCode::OK, Body::from_stream(body)).into_response();
            blob_headers(&mut res, &digest, len);
            res
        }
        crate::service::oci::BlobRead::Part {
            start,
            end,
            total,
            body,
        } => {
            let mut res = (StatusCode::PARTIAL_CONTENT, Body::from_stream(body)).into_response();
            blob_headers(&mut res, &digest, end - start + 1);
            if let Ok(v) = HeaderValue::try_from(format!("bytes {start}-{end}/{total}")) {
                res.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            res
        }
    })
}

fn stored(repo: &Repo, digest: &Digest) -> Response {
    empty(
        StatusCode::CREATED,
        vec![
            (
                header::LOCATION,
                format!("/v2/{}/blobs/{digest}", repo.name()),
            ),
            (CONTENT_DIGEST, digest.to_string()),
        ],
    )
}

fn session(status: StatusCode, upload: &crate::service::oci::UploadState) -> Response {
    let mut res = empty(status, vec![]);
    upload_headers(res.headers_mut(), upload);
    res
}

/// `POST …/blobs/uploads/`: a mount, a monolithic upload, or a new session.
pub(super) async fn start(
    state: &Shared,
    repo: &Repo,
    identity: &Identity,
    req: Request,
) -> Answer {
    let q = query(&req);
    let service = &state.service;
    if let Some(mount) = param(&q, "mount") {
        let digest = digest_of(mount)?;
        // The source must be readable by the caller; without one, any stored blob mounts.
        let readable = match param(&q, "from").map(|f| service.oci_repo(f)) {
            Some(Ok(from)) => service.oci_authorize(identity, &from, Action::Pull).is_ok(),
            Some(Err(_)) => false,
            None => true,
        };
        if readable {
            return Ok(match service.oci_mount(repo, &digest).await? {
                MonolithicOutcome::Stored(d) => stored(repo, &d),
                MonolithicOutcome::Session(u) => session(StatusCode::ACCEPTED, &u),
            });
        }
        return Ok(session(
            StatusCode::ACCEPTED,
            &service.oci_start_upload(repo)?,
        ));
    }
    if let Some(raw) = param(&q, "digest") {
        let digest = digest_of(raw)?;
        let body = req.into_body().into_data_stream();
        let d = service.oci_put_blob(&digest, body).await?;
        return Ok(stored(repo, &d));
    }
    Ok(session(
        StatusCode::ACCEPTED,
        &service.oci_start_upload(repo)?,
    ))
}

pub(super) fn status(state: &Shared, repo: &Repo, id: &str) -> Answer {
    let upload = state.service.oci_upload_status(repo, id)?;
    Ok(session(StatusCode::NO_CONTENT, &upload))
}

/// `Content-Range: <start>-<end>` (inclusive; a `bytes ` prefix is tolerated).
fn content_range(req: &Request) -> Result<Option<(u64, u64)>, Refusal> {
    let Some(v) = req.headers().get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let range = v
        .to_str()
        .ok()
        .and_then(parse_content_range)
        .ok_or_else(|| {
            Refusal::from(OciError::new(
                Code::RangeInvalid,
                "the Content-Range must be `<start>-<end>`",
            ))
        })?;
    Ok(Some(range))
}

/// The `<start>-<end>` of a chunk's `Content-Range`, as written; whether it fits the session
/// is the service's question.
pub(crate) fn parse_content_range(raw: &str) -> Option<(u64, u64)> {
    let raw = raw.trim();
    let raw = raw.strip_prefix("bytes ").unwrap_or(raw);
    let raw = raw.split('/').next().unwrap_or(raw);
    let (a, b) = raw.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

fn has_body(req: &Request) -> bool {
    match req.headers().get(header::CONTENT_LENGTH) {
        Some(v) => v.to_str().ok().and_then(|v| v.parse::<u64>().ok()) != Some(0),
        None => req.headers().contains_key(header::TRANSFER_ENCODING),
    }
}

pub(super) async fn patch(state: &Shared, repo: &Repo, id: &str, req: Request) -> Answer {
    let range = content_range(&req)?;
    let body = req.into_body().into_data_stream();
    let upload = state.service.oci_append(repo, id, range, body).await?;
    Ok(session(StatusCode::ACCEPTED, &upload))
}

pub(super) async fn close(state: &Shared, repo: &Repo, id: &str, req: Request) -> Answer {
    let q = query(&req);
    let digest = param(&q, "digest")
        .ok_or_else(|| {
            Refusal::from(OciError::new(
                Code::DigestInvalid,
                "closing an upload needs `?digest=`",
            ))
        })
        .and_then(digest_of)?;
    let range = content_range(&req)?;
    let body_present = has_body(&req);
    let body = req.into_body().into_data_stream();
    let d = state
        .service
        .oci_close(repo, id, &digest, range, body, body_present)
        .await?;
    Ok(stored(repo, &d))
}
