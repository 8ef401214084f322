//! What an error from an OCI registry means: worth another attempt, a missing package, an
//! HTTP status, and its whole chain of causes for a message.

use oci_client::errors::{OciDistributionError, OciErrorCode};

/// Connection failures, 5xx and 429.
pub fn transient(e: &OciDistributionError) -> bool {
    match e {
        // A certificate that does not verify will not verify on the next attempt either.
        OciDistributionError::RequestError(r) if error_chain(r).contains("certificate") => false,
        OciDistributionError::RequestError(r) => {
            r.is_connect()
                || r.is_timeout()
                || r.is_request()
                || r.status()
                    .is_some_and(|s| s.is_server_error() || s.as_u16() == 429)
        }
        OciDistributionError::ServerError { code, .. } => *code >= 500 || *code == 429,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| e.code == OciErrorCode::Toomanyrequests),
        _ => false,
    }
}

pub fn status_of(e: &OciDistributionError) -> Option<u16> {
    match e {
        OciDistributionError::RequestError(r) => r.status().map(|s| s.as_u16()),
        OciDistributionError::ServerError { code, .. } => Some(*code),
        OciDistributionError::UnauthorizedError { .. } => Some(401),
        OciDistributionError::RegistryError { envelope, .. } => {
            if envelope
                .errors
                .iter()
                .any(|e| e.code == OciErrorCode::Unauthorized)
            {
                Some(401)
            } else if envelope
                .errors
                .iter()
                .any(|e| e.code == OciErrorCode::Denied)
            {
                Some(403)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `NAME_UNKNOWN` (and `MANIFEST_UNKNOWN`, a version that is not there); ghcr's `DENIED` for a
/// repository that does not exist is read as an auth failure unless anonymous.
pub fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::NameUnknown | OciErrorCode::ManifestUnknown
            )
        }),
        OciDistributionError::ServerError { code: 404, .. } => true,
        OciDistributionError::RequestError(r) => r.status().is_some_and(|s| s.as_u16() == 404),
        _ => false,
    }
}

pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text = format!("{text}: {s_text}");
        }
        source = s.source();
    }
    text
}
