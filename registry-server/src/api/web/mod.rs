//! The package browser: server-rendered pages over the service's reads, each also served as
//! JSON to `Accept: application/json`. Pages are cached per checkpoint (the log can only grow,
//! and a page shows only what the latest checkpoint covers), descriptions of content per
//! digest (content never changes).

mod cache;
mod pages;
mod views;

use super::Shared;
use crate::service::{describe::Described, Service};
use axum::{
    body::Bytes,
    extract::{Path, Query, RawForm, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use std::sync::Arc;
use warg_crypto::hash::AnyHash;
use warg_protocol::registry::PackageName;

pub(crate) use cache::Web;

/// The cookie that carries a read token for the pages.
const TOKEN_COOKIE: &str = "wtool_read_token";
/// Where the login form posts its token.
pub(crate) const LOGIN_PATH: &str = "/-/login";
/// Content larger than this is described without reading it.
const DESCRIBE_LIMIT: u64 = 64 * 1024 * 1024;

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(index))
        .route("/log", get(log))
        .route("/-/style.css", get(style))
        .route("/-/app.js", get(script))
        .route(LOGIN_PATH, post(login))
        .route("/-/logout", post(logout))
        .route("/{package}", get(package))
}

#[derive(serde::Deserialize, Default)]
struct PageQuery {
    q: Option<String>,
    page: Option<usize>,
}

/// HTML or JSON, from the `Accept` header: HTML when it names `text/html` (browsers do) ahead
/// of JSON; JSON otherwise, so that API clients and scripts get the JSON errors they get from
/// every other path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Format {
    Html,
    Json,
}

fn format_of(headers: &HeaderMap) -> Format {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let json = accept.find("application/json");
    let html = accept.find("text/html");
    match (html, json) {
        (Some(h), Some(j)) if h < j => Format::Html,
        (Some(_), None) => Format::Html,
        _ => Format::Json,
    }
}

fn security_headers(headers: &mut HeaderMap) {
    headers.insert(header::VARY, HeaderValue::from_static("Accept, Cookie"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn with_type(status: StatusCode, format: Format, body: Bytes) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(match format {
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
        }),
    );
    security_headers(res.headers_mut());
    res
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == TOKEN_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Whether the request may read: with a bearer token, or the page cookie.
fn may_read(service: &Service, headers: &HeaderMap) -> bool {
    let cookie = cookie_token(headers);
    let token = super::bearer(headers).map(str::to_string).or(cookie);
    service.authorize_read(token.as_deref()).is_ok()
}

/// What a page answers when reads need a token the request lacks.
fn login_required(format: Format, path: &str, failed: bool) -> Response {
    let body = match format {
        Format::Json => Bytes::from(
            serde_json::json!({
                "status": 401,
                "message": "this registry requires a read token (`Authorization: Bearer`)"
            })
            .to_string(),
        ),
        Format::Html => Bytes::from(pages::login(path, failed).into_string()),
    };
    with_type(StatusCode::UNAUTHORIZED, format, body)
}

/// The page at `key` for the current checkpoint: from the cache, or rendered by `render`. A
/// request whose `If-None-Match` names the current ETag gets a 304.
async fn cached<F, Fut>(state: &Shared, headers: &HeaderMap, key: String, render: F) -> Response
where
    F: FnOnce(Format) -> Fut,
    Fut: std::future::Future<Output = (StatusCode, Bytes)>,
{
    let started = std::time::Instant::now();
    let service = &state.service;
    let format = format_of(headers);
    if !may_read(service, headers) {
        return login_required(format, &key, false);
    }
    let generation = service.browse_generation();
    let etag = format!(
        "\"{generation}-{}\"",
        match format {
            Format::Html => "h",
            Format::Json => "j",
        }
    );
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let (status, body, hit) = match state.web.page(generation, &key, format) {
        Some((status, body)) => (status, body, true),
        None => {
            let (status, body) = render(format).await;
            // Pages of a checkpoint that moved on while rendering are not kept.
            if service.browse_generation() == generation {
                state
                    .web
                    .keep(generation, key, format, status, body.clone());
            }
            (status, body, false)
        }
    };
    if status == StatusCode::OK && matches {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        security_headers(res.headers_mut());
        res.headers_mut()
            .insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
        server_timing(&mut res, started, hit);
        return res;
    }
    let mut res = with_type(status, format, body);
    server_timing(&mut res, started, hit);
    if status == StatusCode::OK {
        res.headers_mut()
            .insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    res
}

/// How long the server spent on a page, and whether it came from the cache, as browsers'
/// developer tools and the page benchmark read it.
fn server_timing(res: &mut Response, started: std::time::Instant, hit: bool) {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let desc = if hit { "cached" } else { "rendered" };
    if let Ok(value) = HeaderValue::from_str(&format!("page;desc=\"{desc}\";dur={ms:.3}")) {
        res.headers_mut().insert("server-timing", value);
    }
}

fn json_body<T: serde::Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_else(|e| {
        serde_json::json!({ "status": 500, "message": format!("cannot serialise the page: {e}") })
            .to_string()
            .into_bytes()
    }))
}

fn render<T: serde::Serialize>(
    format: Format,
    value: &T,
    html: impl FnOnce(&T) -> maud::Markup,
) -> Bytes {
    match format {
        Format::Json => json_body(value),
        Format::Html => Bytes::from(html(value).into_string()),
    }
}

async fn index(
    State(state): State<Shared>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let page = q.page.unwrap_or(1);
    let key = format!("/?q={}&page={page}", q.q.as_deref().unwrap_or("").trim());
    let st = state.clone();
    cached(&state, &headers, key, move |format| async move {
        let view = st.web.index(&st.service, q.q.as_deref(), page).await;
        (StatusCode::OK, render(format, &view, pages::index))
    })
    .await
}

async fn log(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let st = state.clone();
    cached(&state, &headers, "/log".into(), move |format| async move {
        let view = st.web.log(&st.service);
        (StatusCode::OK, render(format, &view, pages::log))
    })
    .await
}

/// `/ns:name` or `/ns:name@version`; anything else is a page that is not there.
async fn package(
    State(state): State<Shared>,
    Path(raw): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let page = q.page.unwrap_or(1);
    let key = format!("/{raw}?page={page}");
    let st = state.clone();
    cached(&state, &headers, key, move |format| async move {
        let (name, version) = match raw.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (raw.as_str(), None),
        };
        let parsed = PackageName::new(name).ok();
        let version = match version.map(semver::Version::parse) {
            Some(Ok(v)) => Some(Some(v)),
            Some(Err(_)) => None,
            None => Some(None),
        };
        let found = match (&parsed, version) {
            (Some(name), Some(None)) => st
                .web
                .package(&st.service, name, page)
                .await
                .map(|v| render(format, &v, pages::package)),
            (Some(name), Some(Some(version))) => st
                .web
                .version(&st.service, name, &version)
                .await
                .map(|v| render(format, &v, pages::version)),
            _ => None,
        };
        match found {
            Some(body) => (StatusCode::OK, body),
            None => (
                StatusCode::NOT_FOUND,
                render(
                    format,
                    &st.web.not_found(&st.service, &raw),
                    pages::not_found,
                ),
            ),
        }
    })
    .await
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    security_headers(h);
    res
}

#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
    #[serde(default)]
    next: String,
}

/// Only paths of this site, so the form cannot send anyone elsewhere.
fn local_path(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/"
    }
}

async fn login(State(state): State<Shared>, RawForm(form): RawForm) -> Response {
    let Ok(form) = serde_urlencoded_form(&form) else {
        return login_required(Format::Html, "/", true);
    };
    let next = local_path(&form.next).to_string();
    let token = form.token.trim();
    let valid = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && state.service.authorize_read(Some(token)).is_ok();
    if !valid {
        return login_required(Format::Html, &next, true);
    }
    let mut res = (StatusCode::SEE_OTHER, ()).into_response();
    let h = res.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&next).unwrap_or(HeaderValue::from_static("/")),
    );
    h.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
        ))
        .expect("a checked token is a valid header"),
    );
    security_headers(h);
    res
}

async fn logout() -> Response {
    let mut res = (StatusCode::SEE_OTHER, ()).into_response();
    let h = res.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/"));
    h.insert(
        header::SET_COOKIE,
        HeaderValue::from_static("wtool_read_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    security_headers(h);
    res
}

fn serde_urlencoded_form(body: &[u8]) -> Result<LoginForm, ()> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    Ok(LoginForm {
        token: get("token").ok_or(())?,
        next: get("next").unwrap_or_default(),
    })
}

impl Web {
    /// The description of `digest`, from the cache or read and decoded once.
    pub(crate) async fn described(
        &self,
        service: &Service,
        name: &PackageName,
        digest: &AnyHash,
    ) -> Option<Arc<Described>> {
        if let Some(hit) = self.description(digest) {
            return Some(hit);
        }
        let bytes = service.content_bytes(digest, DESCRIBE_LIMIT).await.ok()??;
        let label = name.to_string();
        let described =
            tokio::task::spawn_blocking(move || crate::service::describe::describe(&label, &bytes))
                .await
                .ok()?;
        Some(self.keep_description(digest, described))
    }

    pub(crate) fn not_found(&self, service: &Service, raw: &str) -> views::NotFoundView {
        let wanted = raw.split('@').next().unwrap_or(raw);
        views::NotFoundView {
            status: 404,
            message: format!("no package or page `{}`", truncate_chars(raw, 100)),
            suggestion: views::suggest(wanted, &service.browse_packages()),
        }
    }
}

fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests;
