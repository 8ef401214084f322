//! Endpoints of the server rather than of one protocol: discovery, health and metrics.

use super::{json, Shared};
use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

pub(super) async fn well_known(State(state): State<Shared>) -> Response {
    // Only `wargUrl`: wkg fails hard on `preferredProtocol: warg`.
    json(
        StatusCode::OK,
        &serde_json::json!({ "wargUrl": state.public_url.as_str() }),
    )
}

pub(super) async fn healthz(State(state): State<Shared>) -> Response {
    let len = state
        .service
        .latest_checkpoint()
        .map(|c| c.as_ref().checkpoint.log_length);
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
