//! The OCI distribution API (spec v1.1) under `/v2/`. Repository names have any number of
//! segments, so one route takes every path and [`Route::parse`] reads it from the right.
//! Handlers parse and translate; the service decides.

mod blobs;
mod manifests;
mod meta;

pub(crate) use blobs::parse_content_range;

use super::Shared;
use crate::service::oci::{Action, Code, Credential, OciError, UploadState};
use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::any,
    Router,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v2", any(meta::ping))
        .route("/v2/", any(meta::ping))
        .route("/v2/token", any(meta::token))
        .route("/v2/_catalog", any(meta::catalog))
        .route("/v2/{*rest}", any(dispatch))
}

const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
const CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");

/// What a `/v2/<name>/…` path addresses.
#[derive(Debug, PartialEq)]
enum Route<'a> {
    Tags(&'a str),
    Blob(&'a str, &'a str),
    Uploads(&'a str),
    Upload(&'a str, &'a str),
    Manifest(&'a str, &'a str),
    Referrers(&'a str, &'a str),
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Option<Self> {
        if let Some(repo) = path.strip_suffix("/tags/list") {
            return Some(Route::Tags(repo));
        }
        let path = path.strip_suffix('/').unwrap_or(path);
        if let Some(repo) = path.strip_suffix("/blobs/uploads") {
            return Some(Route::Uploads(repo));
        }
        let (head, last) = path.rsplit_once('/')?;
        if let Some(repo) = head.strip_suffix("/blobs/uploads") {
            return Some(Route::Upload(repo, last));
        }
        let (repo, kind) = head.rsplit_once('/')?;
        match kind {
            "blobs" => Some(Route::Blob(repo, last)),
            "manifests" => Some(Route::Manifest(repo, last)),
            "referrers" => Some(Route::Referrers(repo, last)),
            _ => None,
        }
    }

    fn repo(&self) -> &'a str {
        match self {
            Route::Tags(r)
            | Route::Blob(r, _)
            | Route::Uploads(r)
            | Route::Upload(r, _)
            | Route::Manifest(r, _)
            | Route::Referrers(r, _) => r,
        }
    }
}

/// The credential of a request: `Bearer <token>`, or Basic with the token as the password.
fn credential(headers: &HeaderMap) -> Credential {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Credential::Missing;
    };
    let Ok(value) = value.to_str() else {
        return Credential::Malformed;
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" if !rest.trim().is_empty() => Credential::Secret(rest.trim().to_string()),
        "basic" => STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(_, p)| p.to_string()))
            .map(Credential::Secret)
            .unwrap_or(Credential::Malformed),
        _ => Credential::Malformed,
    }
}

/// The query's parameters, repeated ones kept.
fn query(req: &Request) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn param<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn status_of(code: Code) -> StatusCode {
    match code {
        Code::BlobUnknown | Code::BlobUploadUnknown | Code::ManifestUnknown | Code::NameUnknown => {
            StatusCode::NOT_FOUND
        }
        Code::BlobUploadInvalid
        | Code::DigestInvalid
        | Code::ManifestBlobUnknown
        | Code::ManifestInvalid
        | Code::NameInvalid => StatusCode::BAD_REQUEST,
        Code::Unauthorized => StatusCode::UNAUTHORIZED,
        Code::Denied => StatusCode::FORBIDDEN,
        Code::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
        Code::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
        Code::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Full => StatusCode::INSUFFICIENT_STORAGE,
    }
}

/// The answer to a refused request: the spec's error body, plus a challenge when credentials
/// are needed (with the scope of this request, which oras-py and docker copy).
pub(crate) struct Refusal {
    error: OciError,
    challenge: Option<String>,
}

type Answer = Result<Response, Refusal>;

impl From<OciError> for Refusal {
    fn from(error: OciError) -> Self {
        Self {
            error,
            challenge: None,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let e = self.error;
        let body = serde_json::json!({
            "errors": [{ "code": e.code.as_str(), "message": e.message, "detail": null }]
        });
        let mut res = json_response(status_of(e.code), &body, "application/json");
        let headers = res.headers_mut();
        if let Some(c) = self.challenge.and_then(|c| HeaderValue::try_from(c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, c);
        }
        if let Some(upload) = &e.upload {
            upload_headers(headers, upload);
        }
        res
    }
}

fn challenge(state: &Shared, scope: Option<(&str, Action)>) -> String {
    let realm = format!("{}v2/token", state.public_url);
    let service = state
        .public_url
        .host_str()
        .map(|h| match state.public_url.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_string(),
        });
    let mut c = format!(
        r#"Bearer realm="{realm}",service="{}""#,
        service.unwrap_or_default()
    );
    if let Some((repo, action)) = scope {
        let actions = match action {
            Action::Pull => "pull",
            Action::Push => "pull,push",
        };
        c.push_str(&format!(r#",scope="repository:{repo}:{actions}""#));
    }
    c
}

/// Adds the challenge to an `UNAUTHORIZED` refusal.
fn challenged<'a>(
    state: &'a Shared,
    scope: Option<(&'a str, Action)>,
) -> impl Fn(OciError) -> Refusal + 'a {
    move |error| {
        let challenge = (error.code == Code::Unauthorized).then(|| challenge(state, scope));
        Refusal { error, challenge }
    }
}

fn with_api_version(mut res: Response) -> Response {
    res.headers_mut()
        .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    res
}

fn upload_location(upload: &UploadState) -> String {
    format!("/v2/{}/blobs/uploads/{}", upload.repo, upload.id)
}

fn upload_headers(headers: &mut HeaderMap, upload: &UploadState) {
    let range = if upload.offset == 0 {
        "0-0".to_string()
    } else {
        format!("0-{}", upload.offset - 1)
    };
    for (name, value) in [
        (header::LOCATION, upload_location(upload)),
        (header::RANGE, range),
        (
            HeaderName::from_static("docker-upload-uuid"),
            upload.id.clone(),
        ),
    ] {
        if let Ok(v) = HeaderValue::try_from(value) {
            headers.insert(name, v);
        }
    }
}

fn empty(status: StatusCode, headers: Vec<(HeaderName, String)>) -> Response {
    let mut res = (status, Body::empty()).into_response();
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::try_from(value) {
            res.headers_mut().insert(name, v);
        }
    }
    res.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    res
}

fn unsupported() -> Refusal {
    OciError::new(
        Code::Unsupported,
        "deleting is not supported by this registry",
    )
    .into()
}

async fn dispatch(State(state): State<Shared>, req: Request) -> Response {
    let path = req
        .uri()
        .path()
        .strip_prefix("/v2/")
        .unwrap_or_default()
        .to_string();
    let res = match Route::parse(&path) {
        Some(route) => handle(&state, &route, req)
            .await
            .unwrap_or_else(|r| r.into_response()),
        None => Refusal::from(OciError::new(
            Code::NameInvalid,
            format!(
                "`{}` is not an OCI distribution path",
                super::truncate(&path)
            ),
        ))
        .into_response(),
    };
    with_api_version(res)
}

async fn handle(state: &Shared, route: &Route<'_>, req: Request) -> Answer {
    let method = req.method().clone();
    let action = match method {
        Method::GET | Method::HEAD => Action::Pull,
        Method::DELETE => return Err(unsupported()),
        _ => Action::Push,
    };
    let service = &state.service;
    let refuse = challenged(state, Some((route.repo(), action)));
    let identity = service
        .oci_identify(credential(req.headers()))
        .map_err(&refuse)?;
    let repo = service.oci_repo(route.repo()).map_err(&refuse)?;
    service
        .oci_authorize(&identity, &repo, action)
        .map_err(&refuse)?;
    match route {
        Route::Tags(_) if method == Method::GET => manifests::tags(state, &repo, &req),
        Route::Referrers(_, digest) if method == Method::GET => {
            manifests::referrers(state, &repo, digest, &req)
        }
        Route::Manifest(_, reference) if action == Action::Pull => {
            manifests::get(state, &repo, reference, method == Method::HEAD).await
        }
        Route::Manifest(_, reference) if method == Method::PUT => {
            manifests::put(state, &repo, reference, req).await
        }
        Route::Blob(_, digest) if action == Action::Pull => {
            let range = req
                .headers()
                .get(header::RANGE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            blobs::get(state, &repo, digest, range, method == Method::HEAD).await
        }
        Route::Uploads(_) if method == Method::POST => {
            blobs::start(state, &repo, &identity, req).await
        }
        Route::Upload(_, id) if method == Method::GET => blobs::status(state, &repo, id),
        Route::Upload(_, id) if method == Method::PATCH => {
            blobs::patch(state, &repo, id, req).await
        }
        Route::Upload(_, id) if method == Method::PUT => blobs::close(state, &repo, id, req).await,
        _ => {
            Err(OciError::new(Code::Unsupported, format!("{method} is not supported here")).into())
        }
    }
}

/// `n`/`last` pagination over a sorted list, with the `Link` to the next page.
fn paginate(
    items: Vec<String>,
    query: &[(String, String)],
    path: &str,
) -> Result<(Vec<String>, Option<String>), Refusal> {
    let last = param(query, "last");
    let mut items: Vec<String> = match last {
        Some(last) => items.into_iter().filter(|t| t.as_str() > last).collect(),
        None => items,
    };
    let Some(n) = param(query, "n") else {
        return Ok((items, None));
    };
    let n: usize = n.parse().map_err(|_| {
        Refusal::from(OciError::new(
            Code::Unsupported,
            "the `n` parameter must be a non-negative integer",
        ))
    })?;
    if items.len() <= n {
        return Ok((items, None));
    }
    items.truncate(n);
    let link = items.last().map(|last| {
        let last: String = url::form_urlencoded::byte_serialize(last.as_bytes()).collect();
        format!("<{path}?n={n}&last={last}>; rel=\"next\"")
    });
    Ok((items, link))
}

fn json_response(
    status: StatusCode,
    body: &serde_json::Value,
    content_type: &'static str,
) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut res = (status, bytes).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn paths_are_read_from_the_right() {
        assert_eq!(Route::parse("a/b/c/tags/list"), Some(Route::Tags("a/b/c")));
        assert_eq!(Route::parse("a/blobs/uploads/"), Some(Route::Uploads("a")));
        assert_eq!(
            Route::parse("a/b/blobs/uploads/x1"),
            Some(Route::Upload("a/b", "x1"))
        );
        assert_eq!(
            Route::parse("a/manifests/b/manifests/1.0"),
            Some(Route::Manifest("a/manifests/b", "1.0"))
        );
        assert_eq!(
            Route::parse("a/b/blobs/sha256:0"),
            Some(Route::Blob("a/b", "sha256:0"))
        );
        assert_eq!(
            Route::parse("a/referrers/sha256:0"),
            Some(Route::Referrers("a", "sha256:0"))
        );
        assert_eq!(Route::parse("a"), None);
    }
}
