//! Key policy: which signing keys may publish without a token.

use indexmap::{IndexMap, IndexSet};
use serde::{Deserialize, Serialize};
use warg_crypto::signing::KeyID;
use warg_protocol::{
    package::{PackageEntry, PackageRecord},
    registry::PackageName,
    ProtoEnvelope,
};

/// `[namespace.<ns>]` / `[package."<ns>:<name>"]` tables listing key ids that may publish
/// without a token (the same shape as warg-server's authorized-keys file).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizedKeys {
    #[serde(default, rename = "namespace")]
    pub namespaces: IndexMap<String, KeyList>,
    #[serde(default, rename = "package")]
    pub packages: IndexMap<String, KeyList>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyList {
    pub keys: IndexSet<String>,
    /// Lets any key that the package log itself authorises submit non-init entries.
    #[serde(default)]
    pub delegation: bool,
}

impl AuthorizedKeys {
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.packages.is_empty()
    }

    /// Whether the record's signer is listed for this package (package entries win over the
    /// namespace's). `None` means no list applies.
    pub fn allows(
        &self,
        name: &PackageName,
        record: &ProtoEnvelope<PackageRecord>,
    ) -> Option<bool> {
        let list = self
            .packages
            .get(name.as_ref())
            .or_else(|| self.namespaces.get(name.namespace()))?;
        let signer: &KeyID = record.key_id();
        let listed = list.keys.contains(&signer.to_string());
        Some(record.as_ref().entries.iter().all(|entry| {
            let is_init = matches!(entry, PackageEntry::Init { .. });
            listed || (list.delegation && !is_init)
        }))
    }
}
