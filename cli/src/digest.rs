//! Content digests, parsed once at the edge: `sha256:<64 lowercase hex>` is the only form wkg,
//! warg and OCI share.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Digest([u8; 32]);

impl Digest {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    pub fn bytes(&self) -> [u8; 32] {
        self.0
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A name that is safe as a file name on every OS (no `:`).
    pub fn file_name(&self) -> String {
        format!("sha256-{}", self.hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a digest; expected `sha256:` followed by 64 hex digits")]
pub struct BadDigest(String);

impl FromStr for Digest {
    type Err = BadDigest;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| BadDigest(s.to_string()))?;
        let mut out = [0u8; 32];
        if hex.len() != 64 || hex::decode_to_slice(hex, &mut out).is_err() {
            return Err(BadDigest(s.to_string()));
        }
        Ok(Self(out))
    }
}

impl TryFrom<String> for Digest {
    type Error = BadDigest;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_forms() {
        let d = Digest::of(b"hello");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert!(d.file_name().starts_with("sha256-"));
        assert!("sha512:00".parse::<Digest>().is_err());
        assert!("sha256:zz".parse::<Digest>().is_err());
    }
}
