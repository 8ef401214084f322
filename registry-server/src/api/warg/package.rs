//! Publishing: records, their status, and content uploads.

use crate::{
    api::{bearer, json, parse_hash, ApiError, ApiJson, Segments, Shared},
    policy::ContentRejection,
    service::{AuthError, SubmitOutcome, UploadError},
};
use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use indexmap::IndexMap;
use warg_api::v1::package::{
    MissingContent, PackageError, PackageRecord, PackageRecordState, PublishRecordRequest,
    UploadEndpoint,
};
use warg_crypto::hash::{AnyHash, Sha256};
use warg_protocol::{
    package,
    registry::{LogId, RecordId},
    ProtoEnvelope,
};

fn record_response(
    state: &Shared,
    status: StatusCode,
    record_id: RecordId,
    outcome: SubmitOutcome,
) -> Response {
    let state_body = match outcome {
        SubmitOutcome::Published(registry_index) => {
            PackageRecordState::Published { registry_index }
        }
        SubmitOutcome::Processing => PackageRecordState::Processing,
        SubmitOutcome::Rejected(reason) => PackageRecordState::Rejected { reason },
        SubmitOutcome::Sourcing(missing) => {
            let missing_content: IndexMap<AnyHash, MissingContent> = missing
                .into_iter()
                .map(|(digest, nonce)| {
                    // The client sends no credentials with uploads, so the unguessable nonce in
                    // the URL is what ties an upload to the record we accepted.
                    let url = state
                        .public_url
                        .join(&format!("v1/upload/{nonce}"))
                        .map(|u| u.to_string())
                        .unwrap_or_else(|_| format!("v1/upload/{nonce}"));
                    (
                        digest,
                        MissingContent {
                            upload: vec![UploadEndpoint::Http {
                                method: "POST".into(),
                                url,
                                headers: IndexMap::new(),
                            }],
                        },
                    )
                })
                .collect();
            PackageRecordState::Sourcing { missing_content }
        }
    };
    json(
        status,
        &PackageRecord {
            record_id,
            state: state_body,
        },
    )
}

/// A refused publish, in warg's `unauthorized` shape.
fn publish_refusal(e: AuthError) -> ApiError {
    match e {
        AuthError::Store(_) => e.into(),
        refused => PackageError::Unauthorized(refused.to_string()).into(),
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::NotIssued(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            UploadError::Transport(_) | UploadError::DigestMismatch { .. } => {
                ApiError::bad_request(e.to_string())
            }
            UploadError::Rejected {
                rejection: ContentRejection::TooLarge { .. },
                reason,
            } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, reason),
            UploadError::Rejected { reason, .. } => PackageError::Rejection(reason).into(),
            UploadError::Store(detail) => ApiError::store("cannot store content", &detail),
        }
    }
}

pub(super) async fn publish(
    State(state): State<Shared>,
    Segments(raw_log_id): Segments<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PublishRecordRequest<'static>>,
) -> Result<Response, ApiError> {
    let log_id: LogId = parse_hash(&raw_log_id, "log id")?.into();
    let name = body.package_name.clone().into_owned();
    let expected = LogId::package_log::<Sha256>(&name);
    if expected != log_id {
        return Err(ApiError::bad_request(format!(
            "package log identifier `{expected}` derived from `{name}` does not match provided log identifier `{log_id}`"
        )));
    }
    let envelope: ProtoEnvelope<package::PackageRecord> = body
        .record
        .into_owned()
        .try_into()
        .map_err(|e| ApiError::bad_request(format!("invalid record: {e}")))?;
    if !body.content_sources.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "specifying content sources is not supported",
        ));
    }
    state.service.precheck(&log_id, &name, &envelope)?;
    state
        .service
        .authorize_publish(bearer(&headers), &name, &envelope)
        .map_err(publish_refusal)?;
    let record_id = RecordId::package_record::<Sha256>(&envelope);
    let outcome = state.service.submit(log_id, name, envelope).await?;
    Ok(record_response(
        &state,
        StatusCode::ACCEPTED,
        record_id,
        outcome,
    ))
}

pub(super) async fn status(
    State(state): State<Shared>,
    Segments((raw_log, raw_record)): Segments<(String, String)>,
) -> Result<Response, ApiError> {
    let log_id: LogId = parse_hash(&raw_log, "log id")?.into();
    let record_id: RecordId = parse_hash(&raw_record, "record id")?.into();
    let outcome = state.service.record_status(&log_id, &record_id)?;
    Ok(record_response(&state, StatusCode::OK, record_id, outcome))
}

pub(super) async fn upload(
    State(state): State<Shared>,
    Segments(session): Segments<String>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    // Warg clients learn what became of the record from its status, not from this answer.
    let _record = state
        .service
        .receive_upload(&session, body.into_data_stream())
        .await?;
    Ok(StatusCode::CREATED)
}
