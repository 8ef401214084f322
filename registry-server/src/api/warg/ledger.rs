//! The ledger and checkpoint verification, for monitors.

use crate::api::{json, ApiError, ApiJson, Segments, Shared};
use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use warg_api::v1::ledger::{LedgerSource, LedgerSourceContentType, LedgerSourcesResponse};
use warg_crypto::hash::HashAlgorithm;
use warg_protocol::{registry::TimestampedCheckpoint, SerdeEnvelope};

const LEDGER_PAGE: usize = 1000;

pub(super) async fn ledger(State(state): State<Shared>) -> Response {
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

pub(super) async fn records(
    State(state): State<Shared>,
    start: Result<Segments<usize>, ApiError>,
) -> Result<Response, ApiError> {
    let Segments(start) = start.map_err(|_| ApiError::bad_request("invalid ledger start index"))?;
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
    Ok(res)
}

pub(super) async fn verify_checkpoint(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<SerdeEnvelope<TimestampedCheckpoint>>,
) -> Response {
    json(StatusCode::OK, &state.service.verify_checkpoint(&body))
}
