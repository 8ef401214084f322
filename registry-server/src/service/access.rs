//! Who may publish and read. A token is `wtr_<id>_<secret>`; only the sha256 of the whole token
//! is stored, so a leaked database does not leak usable tokens.

use super::Service;
use crate::{
    policy::AuthorizedKeys,
    store::{StoreError, StoreResult, StoredToken, TokenStore},
};
use sha2::{Digest, Sha256};
use warg_protocol::{package::PackageRecord, registry::PackageName, ProtoEnvelope};

const PREFIX: &str = "wtr_";

/// The access rules an operator configured.
pub(crate) struct Access {
    pub authorized_keys: AuthorizedKeys,
    pub allow_anonymous_publish: bool,
    pub require_read_token: bool,
    /// Failed authentications one client address may make in a minute (0: no bound).
    pub auth_failures_per_minute: u32,
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("publishing requires a bearer token (see `wtool-registry token create`)")]
    PublishTokenMissing,
    #[error("this registry requires a bearer token for reads")]
    ReadTokenMissing,
    #[error("the bearer token is not valid")]
    InvalidToken,
    #[error("the bearer token does not grant publishing to namespace `{0}`")]
    WrongNamespace(String),
    #[error("token lookup failed")]
    Store(#[source] StoreError),
}

pub(crate) struct IssuedToken {
    pub id: String,
    pub token: String,
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("operating system random number generator failed");
    hex::encode(bytes)
}

/// Creates a token for `namespaces`; the secret is returned once and never stored.
pub(crate) fn issue_token(
    store: &dyn TokenStore,
    namespaces: &[String],
) -> StoreResult<IssuedToken> {
    let id = random_hex(6);
    let token = format!("{PREFIX}{id}_{}", random_hex(24));
    store.insert(&id, &hash_token(&token), namespaces)?;
    Ok(IssuedToken { id, token })
}

/// The live token of ours that was presented, if it is one.
pub(super) fn lookup(
    store: &dyn TokenStore,
    token: &str,
) -> Result<Option<StoredToken>, AuthError> {
    granted(store, token)
}

fn granted(store: &dyn TokenStore, token: &str) -> Result<Option<StoredToken>, AuthError> {
    if !token.starts_with(PREFIX) || token.len() > 200 {
        return Ok(None);
    }
    store.find(&hash_token(token)).map_err(AuthError::Store)
}

impl Service {
    /// A publish needs a token for the namespace, a key listed in the authorized-keys policy,
    /// or an operator who allowed anonymous publishing (then only without a token: a bad token
    /// is refused, never ignored). Signatures are checked separately, in every case.
    pub(crate) fn authorize_publish(
        &self,
        token: Option<&str>,
        name: &PackageName,
        record: &ProtoEnvelope<PackageRecord>,
    ) -> Result<(), AuthError> {
        let access = &self.core.policies.access;
        let namespace = name.namespace();
        let refusal = match token {
            None if access.allow_anonymous_publish => return Ok(()),
            None => AuthError::PublishTokenMissing,
            Some(token) => match granted(self.core.stores.tokens.as_ref(), token)? {
                Some(t) if t.namespaces.iter().any(|n| n == namespace || n == "*") => {
                    tracing::debug!(token = %t.id, %name, "publish authorized by token");
                    return Ok(());
                }
                Some(_) => AuthError::WrongNamespace(namespace.to_string()),
                None => AuthError::InvalidToken,
            },
        };
        match access.authorized_keys.allows(name, record) {
            Some(true) => Ok(()),
            _ => Err(refusal),
        }
    }

    /// Reads need any valid token when the operator requires one.
    pub(crate) fn authorize_read(&self, token: Option<&str>) -> Result<(), AuthError> {
        if !self.core.policies.access.require_read_token {
            return Ok(());
        }
        let token = token.ok_or(AuthError::ReadTokenMissing)?;
        match granted(self.core.stores.tokens.as_ref(), token)? {
            Some(_) => Ok(()),
            None => Err(AuthError::ReadTokenMissing),
        }
    }
}
