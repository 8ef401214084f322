//! Endpoints of the server rather than of one protocol: discovery, health and metrics.

use super::{json, Shared};
use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

pub(super) async fn well_known(State(state): State<Shared>) -> Response {
    // No `preferredProtocol`: wkg fails hard on `warg`, and picks OCI by default. warg
    // clients read `wargUrl`; wkg reads the `oci` block.
    let url = &state.public_url;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    };
    json(
        StatusCode::OK,
        &serde_json::json!({
            "wargUrl": url.as_str(),
            "oci": {
                "registry": host,
                "namespacePrefix": state.service.oci_namespace_prefix(),
                // What a package's owner grants `release` to, so OCI pushes may publish.
                "publisherKey": state.service.oci_publisher_public_key(),
                "publisherKeyId": state.service.oci_publisher_key_id(),
            },
        }),
    )
}

pub(super) async fn healthz(State(state): State<Shared>) -> Response {
    let len = state.service.held_log_length();
    json(
        StatusCode::OK,
        &serde_json::json!({ "status": "ok", "logLength": len }),
    )
}

pub(super) async fn metrics(State(state): State<Shared>) -> Response {
    let mut res = state.service.metrics().render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    res
}
