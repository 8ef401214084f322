//! Who may pull and push over OCI, on the same `wtr_` tokens as warg.
//!
//! A `wtr_` token is accepted directly (as `Bearer`, or as the Basic password), and `/v2/token`
//! exchanges it for a short-lived `wto_` token in the Docker token flow. A `wto_` token names
//! only who holds it (the `wtr_` token's id, or nobody for an anonymous pull token): the
//! permissions are looked up on every request, so a revoked token stops working at once and a
//! token issued for pulls may push if its owner may (oras-py reuses its pull token).

use super::{Code, OciError, OciResult, Repo};
use crate::service::Service;
use crate::store::StoredToken;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const ISSUED_PREFIX: &str = "wto_";

/// The credential a request carried.
pub(crate) enum Credential {
    Missing,
    /// A bearer token, or the password of Basic auth (the user name is not used).
    Secret(String),
    /// An `Authorization` header in no form we read: refused, never ignored.
    Malformed,
}

/// Who is asking.
pub(crate) enum Identity {
    Anonymous,
    /// An anonymous pull token from `/v2/token`.
    AnonymousToken,
    Token(StoredToken),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Pull,
    Push,
}

pub(crate) struct IssuedOciToken {
    pub token: String,
    pub expires_in: u64,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn unauthorized(message: impl Into<String>) -> OciError {
    OciError::new(Code::Unauthorized, message)
}

impl Service {
    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.oci().token_secret).expect("HMAC takes any key")
    }

    fn sign_issued(&self, holder: &str, expires: u64) -> String {
        let payload = format!("{holder}:{expires}");
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!(
            "{ISSUED_PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The holder named by a valid, unexpired issued token (`""` for anonymous).
    fn verify_issued(&self, token: &str) -> Option<String> {
        let (payload, tag) = token.strip_prefix(ISSUED_PREFIX)?.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&tag).ok()?;
        let payload = String::from_utf8(payload).ok()?;
        let (holder, expires) = payload.rsplit_once(':')?;
        (expires.parse::<u64>().ok()? > now_secs()).then(|| holder.to_string())
    }

    /// Resolves a credential to an identity; a credential that is not valid is refused.
    pub(crate) fn oci_identify(&self, credential: Credential) -> OciResult<Identity> {
        let secret = match credential {
            Credential::Missing => return Ok(Identity::Anonymous),
            Credential::Malformed => {
                return Err(unauthorized("the Authorization header is malformed"))
            }
            Credential::Secret(s) => s,
        };
        let tokens = self.core.stores.tokens.as_ref();
        if secret.starts_with(ISSUED_PREFIX) {
            let holder = self
                .verify_issued(&secret)
                .ok_or_else(|| unauthorized("the token is not valid or has expired"))?;
            if holder.is_empty() {
                return Ok(Identity::AnonymousToken);
            }
            return match tokens.find_by_id(&holder)? {
                Some(t) => Ok(Identity::Token(t)),
                None => Err(unauthorized("the token has been revoked")),
            };
        }
        let found = super::super::access::lookup(tokens, &secret).map_err(|e| match e {
            super::super::AuthError::Store(e) => OciError::from(e),
            e => OciError::internal("token lookup failed", e),
        })?;
        match found {
            Some(t) => Ok(Identity::Token(t)),
            None => Err(unauthorized("the token is not valid")),
        }
    }

    /// `GET /v2/`: anonymous callers are challenged whenever anything may need credentials,
    /// because clients decide whether to send credentials from this answer alone.
    pub(crate) fn oci_ping(&self, identity: &Identity) -> OciResult<()> {
        let access = &self.core.policies.access;
        match identity {
            Identity::Anonymous if access.require_read_token || !access.allow_anonymous_publish => {
                Err(unauthorized("authentication required"))
            }
            _ => Ok(()),
        }
    }

    /// Checks one request; permissions are those of the token's owner now.
    pub(crate) fn oci_authorize(
        &self,
        identity: &Identity,
        repo: &Repo,
        action: Action,
    ) -> OciResult<()> {
        let access = &self.core.policies.access;
        let namespace = repo.namespace();
        match (action, identity) {
            (Action::Pull, Identity::Token(_)) => Ok(()),
            (Action::Pull, _) if !access.require_read_token => Ok(()),
            (Action::Pull, _) => Err(unauthorized("this registry requires a token for pulls")),
            (Action::Push, Identity::Token(t))
                if t.namespaces.iter().any(|n| n == namespace || n == "*") =>
            {
                Ok(())
            }
            (Action::Push, Identity::Token(t)) => Err(OciError::new(
                Code::Denied,
                format!(
                    "token `{}` does not grant pushing to namespace `{namespace}`",
                    t.id
                ),
            )),
            (Action::Push, _) if access.allow_anonymous_publish => Ok(()),
            (Action::Push, _) => Err(unauthorized(format!(
                "pushing to `{}` requires a token (see `wtool-registry token create`)",
                repo.name()
            ))),
        }
    }

    /// The catalog lists repositories: a read of the whole registry.
    pub(crate) fn oci_catalog_access(&self, identity: &Identity) -> OciResult<()> {
        match identity {
            Identity::Token(_) => Ok(()),
            _ if !self.core.policies.access.require_read_token => Ok(()),
            _ => Err(unauthorized("this registry requires a token for reads")),
        }
    }

    /// `/v2/token`: a short-lived token for whoever presented valid credentials, or an
    /// anonymous pull token where reads are open.
    pub(crate) fn oci_issue_token(&self, identity: &Identity) -> OciResult<IssuedOciToken> {
        let ttl = self.oci().token_ttl_secs.max(60);
        let holder = match identity {
            Identity::Token(t) => t.id.clone(),
            _ if self.core.policies.access.require_read_token => {
                return Err(unauthorized("this registry requires a token"))
            }
            _ => String::new(),
        };
        Ok(IssuedOciToken {
            token: self.sign_issued(&holder, now_secs() + ttl),
            expires_in: ttl,
        })
    }
}
