use super::{api_error, json, json_bytes, message, ApiJson, Shared};
use crate::service::FetchLogsQuery;
use axum::{extract::State, http::StatusCode, response::Response};
use warg_api::v1::fetch::{
    FetchError, FetchLogsRequest, FetchPackageNamesRequest, FetchPackageNamesResponse,
};

const DEFAULT_LIMIT: u16 = 100;
const MAX_LIMIT: u16 = 1000;

pub async fn checkpoint(State(state): State<Shared>) -> Response {
    match state.service.latest_checkpoint() {
        Some(cp) => json(StatusCode::OK, &cp),
        None => message(StatusCode::SERVICE_UNAVAILABLE, "no checkpoint yet"),
    }
}

pub async fn logs(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<FetchLogsRequest<'static>>,
) -> Response {
    let limit = body.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        let e = FetchError::Message {
            status: 400,
            message: format!(
                "invalid records limit value `{limit}`: must be between 1 and {MAX_LIMIT}"
            ),
        };
        return api_error(400, &e);
    }
    let query = FetchLogsQuery {
        log_length: body.log_length,
        limit,
        operator: body.operator.as_deref(),
        packages: &body.packages,
    };
    match state.service.fetch_logs(query) {
        Ok(body) => json_bytes(StatusCode::OK, body),
        Err(e) => api_error(e.status(), &e),
    }
}

pub async fn names(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<FetchPackageNamesRequest<'static>>,
) -> Response {
    match state.service.package_names(&body.packages) {
        Ok(packages) => json(StatusCode::OK, &FetchPackageNamesResponse { packages }),
        Err(e) => api_error(e.status(), &e),
    }
}
