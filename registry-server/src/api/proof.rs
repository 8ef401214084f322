use super::{api_error, json, ApiJson, Shared};
use axum::{extract::State, http::StatusCode, response::Response};
use warg_api::v1::proof::{ConsistencyRequest, InclusionRequest};

pub async fn inclusion(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<InclusionRequest>,
) -> Response {
    let leafs = body.leafs;
    match state.service.prove_inclusion(body.log_length, &leafs) {
        Ok(res) => json(StatusCode::OK, &res),
        Err(e) => api_error(e.status(), &e),
    }
}

pub async fn consistency(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<ConsistencyRequest>,
) -> Response {
    match state.service.prove_consistency(body.from, body.to) {
        Ok(res) => json(StatusCode::OK, &res),
        Err(e) => api_error(e.status(), &e),
    }
}
