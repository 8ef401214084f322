//! Inclusion and consistency proofs.

use crate::api::{json, ApiError, ApiJson, Shared};
use axum::{extract::State, http::StatusCode, response::Response};
use warg_api::v1::proof::{ConsistencyRequest, InclusionRequest};

pub(super) async fn inclusion(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<InclusionRequest>,
) -> Result<Response, ApiError> {
    let proof = state
        .service
        .prove_inclusion(body.log_length, &body.leafs)?;
    Ok(json(StatusCode::OK, &proof))
}

pub(super) async fn consistency(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<ConsistencyRequest>,
) -> Result<Response, ApiError> {
    let proof = state.service.prove_consistency(body.from, body.to)?;
    Ok(json(StatusCode::OK, &proof))
}
