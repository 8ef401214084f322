//! Content digests as `algorithm:hex`, parsed once at the edge. warg content is sha256 only;
//! OCI content may also use sha512. The content store keys blobs by both parts.

use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;
use warg_crypto::hash::{AnyHash, HashAlgorithm};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    pub(crate) fn hasher(self) -> Hasher {
        match self {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Box::new(Sha512::new())),
        }
    }
}

/// A digest of a supported algorithm with lowercase hex of the right length.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Digest {
    algorithm: Algorithm,
    hex: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum DigestError {
    #[error("`{0}` is not a digest (expected `algorithm:hex`)")]
    Syntax(String),
    #[error("digest algorithm `{0}` is not supported (use sha256 or sha512)")]
    Algorithm(String),
    #[error("`{0}` is not a valid {1} digest")]
    Encoded(String, &'static str),
}

impl Digest {
    pub(crate) fn parse(raw: &str) -> Result<Self, DigestError> {
        let short: String = raw.chars().take(140).collect();
        let (alg, hex) = raw
            .split_once(':')
            .ok_or_else(|| DigestError::Syntax(short.clone()))?;
        let valid_alg = !alg.is_empty()
            && alg
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
        if !valid_alg || hex.is_empty() {
            return Err(DigestError::Syntax(short));
        }
        let algorithm = Algorithm::parse(alg).ok_or_else(|| DigestError::Algorithm(alg.into()))?;
        if hex.len() != algorithm.hex_len()
            || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(DigestError::Encoded(short, algorithm.name()));
        }
        Ok(Self {
            algorithm,
            hex: hex.to_string(),
        })
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub(crate) fn hex(&self) -> &str {
        &self.hex
    }

    /// The digest of `bytes` with `algorithm`.
    pub(crate) fn of(algorithm: Algorithm, bytes: &[u8]) -> Self {
        let mut h = algorithm.hasher();
        h.update(bytes);
        h.finish()
    }

    pub(crate) fn sha256(bytes: &[u8]) -> Self {
        Self::of(Algorithm::Sha256, bytes)
    }

    /// The same digest as warg names it; only sha256 digests have one.
    pub(crate) fn to_any_hash(&self) -> Option<AnyHash> {
        match self.algorithm {
            Algorithm::Sha256 => self.to_string().parse().ok(),
            Algorithm::Sha512 => None,
        }
    }
}

impl From<&AnyHash> for Digest {
    fn from(hash: &AnyHash) -> Self {
        // warg-crypto knows sha256 alone today; its enum is open for more.
        let algorithm = match hash.algorithm() {
            HashAlgorithm::Sha256 => Algorithm::Sha256,
            _ => Algorithm::Sha256,
        };
        Self {
            algorithm,
            hex: hex::encode(hash.bytes()),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

/// An incremental hash of either algorithm.
#[derive(Clone)]
pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha512(Box<Sha512>),
}

impl Hasher {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    pub(crate) fn finish(self) -> Digest {
        let (algorithm, hex) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            Hasher::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest { algorithm, hex }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_algorithms_and_refuses_the_rest() {
        let d = Digest::sha256(b"");
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        let d = Digest::of(Algorithm::Sha512, b"x");
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        assert!(matches!(
            Digest::parse("sha256:baddigeststring"),
            Err(DigestError::Encoded(..))
        ));
        assert!(matches!(
            Digest::parse("md5:abc"),
            Err(DigestError::Algorithm(_))
        ));
        assert!(matches!(
            Digest::parse("nocolon"),
            Err(DigestError::Syntax(_))
        ));
        let upper = format!("sha256:{}", d.hex().to_uppercase());
        assert!(Digest::parse(&upper).is_err());
    }
}
