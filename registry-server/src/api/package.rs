use super::{api_error, json, message, parse_hash, truncate, ApiJson, Shared};
use crate::{
    auth::{check_bearer, TokenCheck},
    policy::ContentRejection,
    service::SubmitOutcome,
};
use axum::{
    body::Body,
    extract::{rejection::PathRejection, Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use futures_util::StreamExt;
use indexmap::IndexMap;
use sha2::{Digest, Sha256};
use warg_api::v1::package::{
    MissingContent, PackageError, PackageRecord, PackageRecordState, PublishRecordRequest,
    UploadEndpoint,
};
use warg_crypto::hash::AnyHash;
use warg_protocol::{
    package,
    registry::{LogId, RecordId},
    ProtoEnvelope,
};

fn package_error(e: PackageError) -> Response {
    api_error(e.status(), &e)
}

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

fn path_error(e: PathRejection) -> Response {
    message(StatusCode::BAD_REQUEST, format!("invalid path: {e}"))
}

pub async fn publish(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PublishRecordRequest<'static>>,
) -> Response {
    let raw_log_id = match path {
        Ok(Path(p)) => p,
        Err(e) => return path_error(e),
    };
    let log_id: LogId = match parse_hash(&raw_log_id, "log id") {
        Ok(h) => h.into(),
        Err(e) => return e.into_response(),
    };
    let name = body.package_name.clone().into_owned();
    let expected = LogId::package_log::<warg_crypto::hash::Sha256>(&name);
    if expected != log_id {
        return message(
            StatusCode::BAD_REQUEST,
            format!(
                "package log identifier `{expected}` derived from `{name}` does not match provided log identifier `{log_id}`"
            ),
        );
    }
    let envelope: ProtoEnvelope<package::PackageRecord> = match body.record.into_owned().try_into()
    {
        Ok(e) => e,
        Err(e) => {
            return message(StatusCode::BAD_REQUEST, format!("invalid record: {e}"));
        }
    };
    if !body.content_sources.is_empty() {
        return message(
            StatusCode::NOT_IMPLEMENTED,
            "specifying content sources is not supported",
        );
    }
    if let Err(e) = state.service.precheck(&log_id, &name, &envelope) {
        return package_error(e);
    }
    if let Some(refusal) = authorize(&state, &headers, &name, &envelope) {
        return refusal;
    }
    let record_id = RecordId::package_record::<warg_crypto::hash::Sha256>(&envelope);
    let outcome = state.service.submit(log_id, name, envelope).await;
    record_response(&state, StatusCode::ACCEPTED, record_id, outcome)
}

/// A publish needs a namespace token, a key listed in the authorized-keys policy, or an
/// operator who allowed anonymous publishing. Signatures are checked in every case. Returns the
/// refusal, if any.
fn authorize(
    state: &Shared,
    headers: &HeaderMap,
    name: &warg_protocol::registry::PackageName,
    envelope: &ProtoEnvelope<package::PackageRecord>,
) -> Option<Response> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = match check_bearer(state.service.store().as_ref(), header, name.namespace()) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("token lookup failed: {e}");
            return Some(message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "token lookup failed",
            ));
        }
    };
    if token == TokenCheck::Valid
        || state.authorized_keys.allows(name, envelope) == Some(true)
        || (state.allow_anonymous_publish && token == TokenCheck::Missing)
    {
        return None;
    }
    let why = match token {
        TokenCheck::Missing => {
            "publishing requires a bearer token (see `wtool-registry token create`)".to_string()
        }
        TokenCheck::Invalid => "the bearer token is not valid".to_string(),
        TokenCheck::WrongNamespace => format!(
            "the bearer token does not grant publishing to namespace `{}`",
            name.namespace()
        ),
        TokenCheck::Valid => unreachable!("handled above"),
    };
    Some(package_error(PackageError::Unauthorized(why)))
}

pub async fn status(
    State(state): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let (raw_log, raw_record) = match path {
        Ok(Path(p)) => p,
        Err(e) => return path_error(e),
    };
    let log_id: LogId = match parse_hash(&raw_log, "log id") {
        Ok(h) => h.into(),
        Err(e) => return e.into_response(),
    };
    let record_id: RecordId = match parse_hash(&raw_record, "record id") {
        Ok(h) => h.into(),
        Err(e) => return e.into_response(),
    };
    match state.service.record_status(&log_id, &record_id) {
        Ok(outcome) => record_response(&state, StatusCode::OK, record_id, outcome),
        Err(e) => package_error(e),
    }
}

pub async fn upload(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let nonce = match path {
        Ok(Path(p)) => p,
        Err(e) => return path_error(e),
    };
    let target = (nonce.len() == 48 && nonce.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| state.service.upload_target(&nonce))
        .flatten();
    let Some(target) = target else {
        return message(
            StatusCode::NOT_FOUND,
            format!("no upload was issued for `{}`", truncate(&nonce)),
        );
    };
    let digest = target.digest.clone();

    let mut writer = match state.service.blobs().writer() {
        Ok(w) => w,
        Err(e) => {
            tracing::error!("cannot create upload file: {e}");
            return message(StatusCode::INTERNAL_SERVER_ERROR, "cannot store content");
        }
    };
    // Stream to the temp file while hashing and checking the content; nothing but the current
    // chunk (and what the check holds, see `policy::content`) is in memory.
    let mut check = state.content_policy.start();
    let mut hasher = Sha256::new();
    let mut stream = body.into_data_stream();
    let mut rejection: Option<ContentRejection> = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => return message(StatusCode::BAD_REQUEST, format!("upload failed: {e}")),
        };
        // An invalid upload is still read to its end, so that a wrong digest is reported as
        // such; only one over the size limit is cut short.
        if let Err(r @ ContentRejection::TooLarge { .. }) = check.feed(&chunk) {
            rejection = Some(r);
            break;
        }
        hasher.update(&chunk);
        let written = if writer.would_write(chunk.len()) {
            // Local file writes are short; block_in_place keeps other tasks running meanwhile.
            tokio::task::block_in_place(|| writer.write_all(&chunk))
        } else {
            writer.write_all(&chunk)
        };
        if let Err(e) = written {
            tracing::error!("cannot write upload: {e}");
            return message(StatusCode::INTERNAL_SERVER_ERROR, "cannot store content");
        }
    }
    let total = writer.len();
    if rejection.is_none() {
        let found = format!("sha256:{}", hex::encode(hasher.finalize()));
        if found != digest.to_string() {
            return message(
                StatusCode::BAD_REQUEST,
                format!("content digest `{found}` does not match expected digest `{digest}`"),
            );
        }
        rejection = check.finish().err();
    }
    if rejection.is_none() {
        // Make it durable (temp file, fsync, rename): disk work, so off the async threads.
        let commit_digest = digest.clone();
        let stored = tokio::task::spawn_blocking(move || writer.commit(&commit_digest))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        if let Err(e) = stored {
            tracing::error!("cannot commit upload: {e}");
            return message(StatusCode::INTERNAL_SERVER_ERROR, "cannot store content");
        }
    }
    if let Some(r) = rejection {
        let status = match r {
            ContentRejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let reason = format!("content with digest `{digest}` was rejected by policy: {r}");
        state.service.reject(&target.record_id, reason.clone());
        return match status {
            StatusCode::UNPROCESSABLE_ENTITY => package_error(PackageError::Rejection(reason)),
            _ => message(status, reason),
        };
    }
    state.service.metrics().upload(total);
    tracing::info!(%digest, bytes = total, "content stored");
    state.service.content_stored(&target).await;
    StatusCode::CREATED.into_response()
}
