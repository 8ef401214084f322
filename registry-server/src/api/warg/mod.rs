//! The warg v1 protocol: routes and the exact JSON shapes of `warg-api`.

mod content;
mod fetch;
mod ledger;
mod package;
mod proof;

use super::Shared;
use axum::{
    routing::{get, post},
    Router,
};

/// Serialised answers that never change once given.
#[derive(Default)]
pub(crate) struct Caches {
    /// `content/{digest}` answers: a blob, once stored, never changes.
    sources: content::SourcesCache,
    /// Successful `fetch/logs` answers by request body, which never change either.
    logs: fetch::LogsCache,
}

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/fetch/checkpoint", get(fetch::checkpoint))
        .route("/v1/fetch/logs", post(fetch::logs))
        .route("/v1/fetch/names", post(fetch::names))
        .route("/v1/proof/inclusion", post(proof::inclusion))
        .route("/v1/proof/consistency", post(proof::consistency))
        .route("/v1/package/{log_id}/record", post(package::publish))
        .route(
            "/v1/package/{log_id}/record/{record_id}",
            get(package::status),
        )
        .route(
            "/v1/upload/{nonce}",
            post(package::upload).put(package::upload),
        )
        .route("/v1/content/{digest}", get(content::sources))
        .route("/content/{file}", get(content::download))
        .route("/v1/ledger", get(ledger::ledger))
        .route("/v1/ledger/records/{start}", get(ledger::records))
        .route("/v1/verify/checkpoint", post(ledger::verify_checkpoint))
}
