//! Manifests, tags and referrers.

use super::{json_response, paginate, query, Answer, Refusal, CONTENT_DIGEST};
use crate::{
    api::Shared,
    digest::Digest,
    service::oci::{Code, OciError, Repo},
};
use axum::{
    extract::Request,
    http::{header, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

/// Manifests up to this size are accepted (the spec asks for at least 4 MB).
const MANIFEST_LIMIT: usize = 8 * 1024 * 1024;

pub(super) async fn get(state: &Shared, repo: &Repo, raw: &str, head: bool) -> Answer {
    let service = &state.service;
    let reference = service.oci_reference(raw).map_err(|e| {
        // A reference that cannot exist names no manifest.
        Refusal::from(OciError::new(Code::ManifestUnknown, e.message))
    })?;
    let m = service.oci_manifest(repo, &reference).await?;
    let len = m.bytes.len();
    let mut res = if head {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::OK, m.bytes).into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::try_from(m.media_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::try_from(m.digest.to_string()) {
        h.insert(CONTENT_DIGEST, v);
    }
    Ok(res)
}

pub(super) async fn put(state: &Shared, repo: &Repo, raw: &str, req: Request) -> Answer {
    let service = &state.service;
    let reference = service.oci_reference(raw)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = axum::body::to_bytes(req.into_body(), MANIFEST_LIMIT)
        .await
        .map_err(|_| {
            Refusal::from(OciError::new(
                Code::TooLarge,
                format!("the manifest is larger than {MANIFEST_LIMIT} bytes, or broke off"),
            ))
        })?;
    let put = service
        .oci_put_manifest(repo, &reference, content_type.as_deref(), bytes)
        .await?;
    let mut headers = vec![
        (
            header::LOCATION,
            format!("/v2/{}/manifests/{}", repo.name(), put.digest),
        ),
        (CONTENT_DIGEST, put.digest.to_string()),
    ];
    if let Some(subject) = put.subject {
        headers.push((HeaderName::from_static("oci-subject"), subject.to_string()));
    }
    Ok(super::empty(StatusCode::CREATED, headers))
}

fn link(res: &mut Response, link: Option<String>) {
    if let Some(v) = link.and_then(|l| HeaderValue::try_from(l).ok()) {
        res.headers_mut().insert(header::LINK, v);
    }
}

pub(super) fn tags(state: &Shared, repo: &Repo, req: &Request) -> Answer {
    let tags = state.service.oci_tags(repo)?;
    let (tags, next) = paginate(tags, &query(req), &format!("/v2/{}/tags/list", repo.name()))?;
    let body = serde_json::json!({ "name": repo.name(), "tags": tags });
    let mut res = json_response(StatusCode::OK, &body, "application/json");
    link(&mut res, next);
    Ok(res)
}

pub(super) fn referrers(state: &Shared, repo: &Repo, raw: &str, req: &Request) -> Answer {
    let digest = Digest::parse(raw)
        .map_err(|e| Refusal::from(OciError::new(Code::DigestInvalid, e.to_string())))?;
    let q = query(req);
    let artifact_type = super::param(&q, "artifactType");
    let index = state.service.oci_referrers(repo, &digest, artifact_type)?;
    let mut res = json_response(
        StatusCode::OK,
        &index,
        "application/vnd.oci.image.index.v1+json",
    );
    if artifact_type.is_some() {
        res.headers_mut().insert(
            HeaderName::from_static("oci-filters-applied"),
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(res)
}

pub(super) fn catalog(state: &Shared, req: &Request) -> Answer {
    let repos = state.service.oci_catalog()?;
    let (repos, next) = paginate(repos, &query(req), "/v2/_catalog")?;
    let mut res = json_response(
        StatusCode::OK,
        &serde_json::json!({ "repositories": repos }),
        "application/json",
    );
    link(&mut res, next);
    Ok(res)
}
