//! Publish tokens. A token is `wtr_<id>_<secret>`; only the sha256 of the whole token is stored,
//! so a leaked database does not leak usable tokens.

use crate::store::{LogStore, StoreResult};
use sha2::{Digest, Sha256};

const PREFIX: &str = "wtr_";

pub struct IssuedToken {
    pub id: String,
    pub token: String,
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("operating system random number generator failed");
    hex::encode(bytes)
}

pub fn create_token(store: &dyn LogStore, namespaces: &[String]) -> StoreResult<IssuedToken> {
    let id = random_hex(6);
    let token = format!("{PREFIX}{id}_{}", random_hex(24));
    store.insert_token(&id, &hash_token(&token), namespaces)?;
    Ok(IssuedToken { id, token })
}

/// The outcome of checking an `Authorization` header for a publish to `namespace`.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenCheck {
    Missing,
    Invalid,
    WrongNamespace,
    Valid,
}

pub fn check_bearer(
    store: &dyn LogStore,
    header: Option<&str>,
    namespace: &str,
) -> StoreResult<TokenCheck> {
    let Some(header) = header else {
        return Ok(TokenCheck::Missing);
    };
    let Some(token) = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
    else {
        return Ok(TokenCheck::Invalid);
    };
    if !token.starts_with(PREFIX) || token.len() > 200 {
        return Ok(TokenCheck::Invalid);
    }
    Ok(match store.find_token(&hash_token(token))? {
        None => TokenCheck::Invalid,
        Some(t) if t.namespaces.iter().any(|n| n == namespace || n == "*") => TokenCheck::Valid,
        Some(_) => TokenCheck::WrongNamespace,
    })
}

/// Whether the header carries any valid token (for registries that require one to read).
pub fn has_valid_token(store: &dyn LogStore, header: Option<&str>) -> StoreResult<bool> {
    let Some(token) = header.and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
            .map(str::trim)
    }) else {
        return Ok(false);
    };
    if !token.starts_with(PREFIX) || token.len() > 200 {
        return Ok(false);
    }
    Ok(store.find_token(&hash_token(token))?.is_some())
}
