//! A version pushed over OCI becomes a release record in the package's warg log, signed by the
//! registry's OCI publisher key. A package first created over OCI is initialised by that key
//! (which then owns it); a package created over warg accepts OCI pushes only once its owner has
//! granted that key the `release` permission. warg clients then verify the release against a
//! checkpoint like any other, knowing it was signed by the registry rather than a person.

use super::{Code, OciError, OciResult};
use crate::service::{Service, SubmitOutcome};
use warg_crypto::hash::{AnyHash, HashAlgorithm, Sha256};
use warg_protocol::{
    package::{PackageEntry, PackageRecord, Permission},
    registry::{LogId, PackageName},
    ProtoEnvelope,
};

impl Service {
    /// The key id packages grant `release` to so that OCI pushes may publish to them.
    pub(crate) fn oci_publisher_key_id(&self) -> String {
        self.oci()
            .publisher_key
            .public_key()
            .fingerprint()
            .to_string()
    }

    pub(crate) fn oci_publisher_public_key(&self) -> String {
        self.oci().publisher_key.public_key().to_string()
    }

    pub(super) async fn record_release(
        &self,
        name: &PackageName,
        version: &semver::Version,
        content: AnyHash,
    ) -> OciResult<()> {
        let key = &self.oci().publisher_key;
        let key_id = key.public_key().fingerprint();
        let log_id = LogId::package_log::<Sha256>(name);
        let mut last = String::new();
        // A record of the same log committed meanwhile moves the head: sign again on top.
        for _ in 0..3 {
            let prev = {
                let state = self.core.read();
                match state.packages.get(&log_id) {
                    None => None,
                    Some(log) => {
                        let allowed = log
                            .state
                            .key_permissions(&key_id)
                            .is_some_and(|p| p.contains(&Permission::Release));
                        if !allowed {
                            return Err(OciError::new(
                                Code::Denied,
                                format!(
                                    "the warg log of `{name}` does not allow OCI pushes: its owner must grant \
                                     the registry's OCI publisher key `{key_id}` the release permission"
                                ),
                            ));
                        }
                        log.state.head().as_ref().map(|h| h.digest.clone())
                    }
                }
            };
            let mut entries = Vec::new();
            if prev.is_none() {
                entries.push(PackageEntry::Init {
                    hash_algorithm: HashAlgorithm::Sha256,
                    key: key.public_key(),
                });
            }
            entries.push(PackageEntry::Release {
                version: version.clone(),
                content: content.clone(),
            });
            let record = PackageRecord {
                prev,
                version: 0,
                timestamp: std::time::SystemTime::now(),
                entries,
            };
            let envelope = ProtoEnvelope::signed_contents(key, record)
                .map_err(|e| OciError::internal("cannot sign the release record", e))?;
            self.precheck(&log_id, name, &envelope)
                .map_err(|e| OciError::new(Code::Denied, e.to_string()))?;
            match self.submit(log_id.clone(), name.clone(), envelope).await {
                Ok(SubmitOutcome::Published(index)) => {
                    tracing::info!(%name, %version, registry_index = index, "OCI push recorded in the warg log");
                    return Ok(());
                }
                Ok(SubmitOutcome::Rejected(reason)) => last = reason,
                Ok(SubmitOutcome::Processing) | Ok(SubmitOutcome::Sourcing(_)) => {
                    return Err(OciError::internal(
                        "the release record was not committed in time",
                        name,
                    ))
                }
                Err(e) => return Err(OciError::new(Code::Denied, e.to_string())),
            }
        }
        Err(OciError::new(
            Code::Denied,
            format!("the release record for `{name}` was refused: {last}"),
        ))
    }
}
