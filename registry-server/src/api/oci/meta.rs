//! `GET /v2/` (the auth probe), `/v2/token` (the Docker token flow) and `/v2/_catalog`.

use super::{challenged, credential, json_response, with_api_version, Answer};
use crate::{
    api::Shared,
    service::oci::{Code, OciError},
};
use axum::{
    extract::{Request, State},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};

fn finish(answer: Answer) -> Response {
    with_api_version(answer.unwrap_or_else(|r| r.into_response()))
}

fn get_only(req: &Request) -> Result<(), super::Refusal> {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return Ok(());
    }
    Err(OciError::new(
        Code::Unsupported,
        format!("{} is not supported here", req.method()),
    )
    .into())
}

pub(super) async fn ping(State(state): State<Shared>, req: Request) -> Response {
    let answer = (|| {
        get_only(&req)?;
        let refuse = challenged(&state, None);
        let identity = state
            .service
            .oci_identify(credential(req.headers()))
            .map_err(&refuse)?;
        state.service.oci_ping(&identity).map_err(&refuse)?;
        Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({}),
            "application/json",
        ))
    })();
    finish(answer)
}

pub(super) async fn token(State(state): State<Shared>, req: Request) -> Response {
    let answer = (|| {
        get_only(&req)?;
        let refuse = challenged(&state, None);
        let identity = state
            .service
            .oci_identify(credential(req.headers()))
            .map_err(&refuse)?;
        let issued = state.service.oci_issue_token(&identity).map_err(&refuse)?;
        let issued_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({
                "token": issued.token,
                "access_token": issued.token,
                "expires_in": issued.expires_in,
                "issued_at": issued_at,
            }),
            "application/json",
        ))
    })();
    finish(answer)
}

pub(super) async fn catalog(State(state): State<Shared>, req: Request) -> Response {
    let answer = (|| {
        get_only(&req)?;
        let refuse = challenged(&state, None);
        let identity = state
            .service
            .oci_identify(credential(req.headers()))
            .map_err(&refuse)?;
        state
            .service
            .oci_catalog_access(&identity)
            .map_err(&refuse)?;
        super::manifests::catalog(&state, &req)
    })();
    finish(answer)
}
