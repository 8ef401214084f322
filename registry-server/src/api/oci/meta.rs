//! `GET /v2/` (the auth probe), `/v2/token` (the Docker token flow) and `/v2/_catalog`.

use super::{challenged, credential, json_response, with_api_version, Answer};
use crate::{
    api::Shared,
    service::oci::{Code, Identity, OciError},
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

/// The shape of the three: GET or HEAD only, the caller identified, then `answer` decides;
/// every refusal that asks for credentials carries the challenge.
fn identified(
    state: &Shared,
    req: &Request,
    answer: impl FnOnce(&Identity) -> Result<Answer, OciError>,
) -> Response {
    let run = || {
        get_only(req)?;
        let refuse = challenged(state, None);
        let identity = state
            .service
            .oci_identify(credential(req.headers()))
            .map_err(&refuse)?;
        answer(&identity).map_err(&refuse)?
    };
    finish(run())
}

pub(super) async fn ping(State(state): State<Shared>, req: Request) -> Response {
    identified(&state, &req, |identity| {
        state.service.oci_ping(identity)?;
        Ok(Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({}),
            "application/json",
        )))
    })
}

pub(super) async fn token(State(state): State<Shared>, req: Request) -> Response {
    identified(&state, &req, |identity| {
        let issued = state.service.oci_issue_token(identity)?;
        let issued_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        Ok(Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({
                "token": issued.token,
                "access_token": issued.token,
                "expires_in": issued.expires_in,
                "issued_at": issued_at,
            }),
            "application/json",
        )))
    })
}

pub(super) async fn catalog(State(state): State<Shared>, req: Request) -> Response {
    identified(&state, &req, |identity| {
        state.service.oci_catalog_access(identity)?;
        Ok(super::manifests::catalog(&state, &req))
    })
}
