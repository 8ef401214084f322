use super::{json, message, ApiJson, Shared};
use axum::{
    extract::{rejection::PathRejection, Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use warg_api::v1::ledger::{LedgerSource, LedgerSourceContentType, LedgerSourcesResponse};
use warg_crypto::hash::HashAlgorithm;
use warg_protocol::{registry::TimestampedCheckpoint, SerdeEnvelope};

const LEDGER_PAGE: usize = 1000;

pub async fn well_known(State(state): State<Shared>) -> Response {
    // Only `wargUrl`: wkg fails hard on `preferredProtocol: warg`.
    json(
        StatusCode::OK,
        &serde_json::json!({ "wargUrl": state.public_url.as_str() }),
    )
}

pub async fn healthz(State(state): State<Shared>) -> Response {
    let len = state
        .service
        .latest_checkpoint()
        .map(|c| c.as_ref().checkpoint.log_length);
    json(
        StatusCode::OK,
        &serde_json::json!({ "status": "ok", "logLength": len }),
    )
}

pub async fn metrics(State(state): State<Shared>) -> Response {
    let mut res = state.service.metrics().render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    res
}

pub async fn ledger(State(state): State<Shared>) -> Response {
    let len = state.service.published_length();
    let sources = (0..len)
        .step_by(LEDGER_PAGE)
        .map(|start| LedgerSource {
            first_registry_index: start,
            last_registry_index: (start + LEDGER_PAGE).min(len) - 1,
            url: format!("v1/ledger/records/{start}"),
            accept_ranges: false,
            content_type: LedgerSourceContentType::Packed,
        })
        .collect();
    json(
        StatusCode::OK,
        &LedgerSourcesResponse {
            hash_algorithm: HashAlgorithm::Sha256,
            sources,
        },
    )
}

pub async fn ledger_records(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let start = match path.map(|Path(p)| p.parse::<usize>()) {
        Ok(Ok(s)) => s,
        _ => return message(StatusCode::BAD_REQUEST, "invalid ledger start index"),
    };
    let leaves = state.service.ledger_leaves(start, LEDGER_PAGE);
    let mut body = Vec::with_capacity(leaves.len() * 64);
    for leaf in leaves {
        body.extend_from_slice(leaf.log_id.as_ref());
        body.extend_from_slice(leaf.record_id.as_ref());
    }
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(LedgerSourceContentType::Packed.as_str()),
    );
    res
}

pub async fn verify_checkpoint(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<SerdeEnvelope<TimestampedCheckpoint>>,
) -> Response {
    json(StatusCode::OK, &state.service.verify_checkpoint(&body))
}
