//! An OCI registry, read with plain GETs ([`reads`]) and pushed to through `oci-client` (the
//! client wkg uses): `ns:name@version` is the
//! repository `<prefix><ns>/<name>` tagged `<version>`, holding a Wasm artifact
//! ([`artifact`]). Versions are the semver tags. Nothing from the registry is used before its
//! digest checks out: the manifest against `Docker-Content-Digest`, the config and the layer
//! against the manifest, and the layer against the lock.

pub mod artifact;
pub mod auth;
mod errors;
mod reads;

use super::{Backend, Published};
use crate::cache::Release;
use crate::digest::Digest;
use crate::exit::{coded, Code};
use crate::progress::Transfer;
use anyhow::{anyhow, Result};
use artifact::{ArtifactError, Manifest, WasmConfig};
use errors::{error_chain, is_not_found, status_of, transient};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use semver::Version;
use std::future::Future;
use std::time::Duration;
use warg_crypto::signing::PrivateKey;
use wasm_pkg_common::package::PackageRef;

/// Where an OCI registry is and how to talk to it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OciLocation {
    /// `host[:port]` of the OCI API.
    pub registry: String,
    /// Put before `<ns>/<name>` (with its trailing `/`), e.g. `webassembly/`.
    #[serde(default)]
    pub prefix: String,
    /// Plain HTTP: loopback hosts, an `oci+http://` URL, or `protocol = "http"` in config.
    #[serde(default)]
    pub http: bool,
}

/// `[registry."<name>".oci]` in wkg's config.
#[derive(Default, serde::Deserialize)]
pub struct OciTable {
    pub auth: Option<auth::ConfigAuth>,
    pub protocol: Option<String>,
    #[serde(default)]
    pub accept_invalid_certificates: bool,
    #[serde(default)]
    pub extra_root_certificates: Vec<CertificateTable>,
}

#[derive(serde::Deserialize)]
pub struct CertificateTable {
    #[serde(default = "pem")]
    pub encoding: String,
    pub data: String,
}

fn pem() -> String {
    "pem".into()
}

pub struct OciBackend {
    name: String,
    location: OciLocation,
    /// oci-client, which pushes; made on the first push, since setting up its TLS (reading
    /// the system's roots) costs as much as a whole fetch, which reads through `reads` alone.
    client: std::sync::OnceLock<Client>,
    client_config: std::sync::Mutex<Option<ClientConfig>>,
    credentials: auth::Credentials,
    reads: reads::Reads,
}

const ATTEMPTS: u32 = 4;

impl OciBackend {
    pub fn new(
        name: &str,
        location: OciLocation,
        table: OciTable,
        credentials: auth::Credentials,
        extra_ca: Option<Vec<u8>>,
    ) -> Result<Self> {
        let mut certs: Vec<Certificate> = table
            .extra_root_certificates
            .iter()
            .map(|c| Certificate {
                encoding: if c.encoding.eq_ignore_ascii_case("der") {
                    CertificateEncoding::Der
                } else {
                    CertificateEncoding::Pem
                },
                data: c.data.clone().into_bytes(),
            })
            .collect();
        if let Some(pem) = extra_ca {
            certs.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data: pem,
            });
        }
        let plain = if certs.is_empty() && !table.accept_invalid_certificates {
            super::http::shared()
        } else {
            let mut own = super::http::builder()
                .danger_accept_invalid_certs(table.accept_invalid_certificates);
            for c in &certs {
                let cert = match c.encoding {
                    CertificateEncoding::Der => reqwest::Certificate::from_der(&c.data),
                    CertificateEncoding::Pem => reqwest::Certificate::from_pem(&c.data),
                }
                .map_err(|e| {
                    anyhow!("registry `{name}`: an extra root certificate does not parse: {e}")
                })?;
                own = own.add_root_certificate(cert);
            }
            own.build().map_err(|e| e.to_string())
        }
        .map_err(|e| anyhow!("registry `{name}`: cannot set up the HTTP client: {e}"))?;
        let scheme = if location.http { "http" } else { "https" };
        let reads = reads::Reads::new(
            plain,
            format!("{scheme}://{}", location.registry),
            credentials.secret.clone(),
        );
        let config = ClientConfig {
            protocol: if location.http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            accept_invalid_certificates: table.accept_invalid_certificates,
            extra_root_certificates: certs,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            user_agent: concat!("wtool/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        Ok(Self {
            name: name.to_string(),
            location,
            client: std::sync::OnceLock::new(),
            client_config: std::sync::Mutex::new(Some(config)),
            credentials,
            reads,
        })
    }

    /// The pushing client, set up on first use.
    fn client(&self) -> Result<&Client> {
        let mut pending = self.client_config.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(config) = pending.take() {
            let client = Client::try_from(config).map_err(|e| {
                anyhow!(
                    "registry `{}`: cannot set up the OCI client: {e}",
                    self.name
                )
            })?;
            let _ = self.client.set(client);
        }
        drop(pending);
        self.client.get().ok_or_else(|| {
            anyhow!(
                "registry `{}`: the OCI client could not be set up",
                self.name
            )
        })
    }

    /// What oci-client pushes with: the credentials found, or a token the identity token was
    /// exchanged for at the registry's token service.
    async fn push_auth(&self, package: &PackageRef) -> Result<RegistryAuth> {
        if let Some(auth) = self.credentials.registry_auth() {
            return Ok(auth);
        }
        let explain = |e| self.explain(package, "exchanging the identity token", e);
        let challenge = self
            .retrying("looking at /v2/", || self.reads.challenge())
            .await
            .map_err(explain)?;
        let Some(challenge) = challenge else {
            crate::exit::fail!(
                Code::AuthRefused,
                "{} asks for no token, so the {} cannot be used there; log in with a user \
                 name and password (`docker login {}`) or set {}",
                self.where_(package),
                self.credentials.source,
                self.location.registry,
                auth::wkg_env_var(&self.location.registry, "BEARER")
            );
        };
        let scope = format!("repository:{}:pull,push", self.repository(package));
        let token = self
            .retrying("exchanging the identity token", || {
                self.reads.token(&challenge, &scope)
            })
            .await
            .map_err(explain)?;
        Ok(RegistryAuth::Bearer(token))
    }

    /// The repository of a package, `<prefix><ns>/<name>`.
    fn repository(&self, package: &PackageRef) -> String {
        format!(
            "{}{}/{}",
            self.location.prefix,
            package.namespace(),
            package.name()
        )
    }

    fn reference(&self, package: &PackageRef, tag: &str) -> Reference {
        Reference::with_tag(
            self.location.registry.clone(),
            self.repository(package),
            tag.to_string(),
        )
    }

    fn where_(&self, package: &PackageRef) -> String {
        format!(
            "registry `{}` (repository {}/{})",
            self.name,
            self.location.registry,
            self.repository(package)
        )
    }

    /// Runs one exchange, again after a pause when the registry was unreachable, failing
    /// (5xx) or throttling (429): ghcr throttles and sheds load.
    async fn retrying<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, OciDistributionError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let mut delay = Duration::from_millis(200);
        for attempt in 1.. {
            match op().await {
                Err(e) if attempt < ATTEMPTS && transient(&e) => {
                    let wait = self
                        .reads
                        .take_retry_after()
                        .map(|d| d.min(Duration::from_secs(30)))
                        .unwrap_or(delay);
                    tracing::debug!("{what}: {e}; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    delay *= 2;
                }
                other => return other,
            }
        }
        unreachable!("the loop returns")
    }

    /// Says what an error from the registry means, naming the registry and the repository.
    fn explain(&self, package: &PackageRef, what: &str, e: OciDistributionError) -> anyhow::Error {
        let place = self.where_(package);
        let status = status_of(&e);
        if is_not_found(&e) {
            return anyhow!("package {package} not found at {place}: {what} answered {e}");
        }
        let denied = matches!(&e, OciDistributionError::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| e.code == OciErrorCode::Denied));
        if denied && self.credentials.is_anonymous() {
            return anyhow!(
                "package {package} not found at {place}: the registry answered DENIED, which \
                 ghcr answers both for a package that does not exist and for a private one; if it \
                 is private, set {}",
                auth::wkg_env_var(&self.location.registry, "BEARER")
            );
        }
        if matches!(status, Some(401 | 403))
            || matches!(e, OciDistributionError::AuthenticationFailure(_))
        {
            let tried = self.credentials.tried.join(", ");
            let used = if self.credentials.is_anonymous() {
                "no credentials were found".to_string()
            } else {
                format!(
                    "the credentials from {} were refused",
                    self.credentials.source
                )
            };
            return coded(
                Code::AuthRefused,
                anyhow!(
                    "{place} refused access ({}) while {what}: {used} (looked at: {tried}); set {} \
                     or log in with `docker login {}`",
                    status.map(|s| s.to_string()).unwrap_or_else(|| "authentication failed".into()),
                    auth::wkg_env_var(&self.location.registry, "BEARER"),
                    self.location.registry
                ),
            );
        }
        if let OciDistributionError::RequestError(r) = &e {
            let chain = error_chain(r);
            if chain.contains("certificate") {
                return coded(
                    Code::Unreachable,
                    anyhow!(
                        "{place} at https://{}/ presented a certificate that does not verify \
                         while {what}: {chain}; if your own CA signed it, name its PEM file in \
                         wtool's config (`[registries.\"{}\"] ca_file = \"ca.pem\"`) or in wkg's \
                         `extra_root_certificates`",
                        self.location.registry,
                        self.name
                    ),
                );
            }
            if r.is_connect() || r.is_timeout() || r.is_request() {
                let scheme = if self.location.http { "http" } else { "https" };
                return coded(
                    Code::Unreachable,
                    anyhow!(
                        "cannot reach {place} at {scheme}://{}/ while {what}: {}; check that the \
                         registry is up, or use --offline if the cache holds what you need",
                        self.location.registry,
                        error_chain(r)
                    ),
                );
            }
        }
        if let OciDistributionError::SpecViolationError(why) = &e {
            if why.ends_with(reads::CUT_OFF) {
                return coded(
                    Code::Verification,
                    anyhow!(
                        "{place} sent too much while {what}: {why}; nothing was used or cached"
                    ),
                );
            }
        }
        if matches!(e, OciDistributionError::DigestError(_)) {
            return coded(
                Code::Verification,
                anyhow!("{place} served bytes that do not match their digest while {what}: {e}; nothing was used or cached"),
            );
        }
        let code = match status {
            Some(s) if s >= 500 => Code::Unreachable,
            _ => Code::Failure,
        };
        coded(code, anyhow!("{place}: {what} failed: {e}"))
    }

    async fn pull_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<Vec<u8>, OciDistributionError> {
        let digest = digest.to_string();
        self.retrying("pulling a blob", || {
            self.reads.blob(repository, &digest, size)
        })
        .await
    }

    async fn tags(&self, package: &PackageRef) -> Result<Option<Vec<String>>> {
        let repository = self.repository(package);
        let listed = self
            .retrying("listing tags", || self.reads.tags(&repository))
            .await;
        match listed {
            Ok(tags) => Ok(Some(tags)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.explain(package, "listing its tags", e)),
        }
    }
}

/// A tag that names a version: semver, without build metadata (`+` is no tag character, and
/// wkg maps nothing to it).
fn tag_version(tag: &str) -> Option<Version> {
    let version: Version = tag.parse().ok()?;
    version.build.is_empty().then_some(version)
}

fn artifact_error(
    backend: &OciBackend,
    label: &str,
    package: &PackageRef,
    e: ArtifactError,
) -> anyhow::Error {
    coded(
        Code::InvalidInput,
        anyhow!(
            "{label} at {} is not a Wasm package: {e}",
            backend.where_(package)
        ),
    )
}

impl OciBackend {
    /// Pulls and checks one artifact: the manifest (against its digest), then its config and
    /// layer at once (each against the manifest). `label` names it in messages.
    async fn pull(
        &self,
        reference: &Reference,
        label: &str,
        package: &PackageRef,
    ) -> Result<Vec<u8>> {
        let repository = reference.repository().to_string();
        let tag = reference.tag().unwrap_or("latest").to_string();
        let (body, header_digest) = self
            .retrying("pulling a manifest", || {
                self.reads
                    .manifest(&repository, &tag, artifact::MANIFEST_MEDIA_TYPE)
            })
            .await
            .map_err(|e| self.explain(package, &format!("pulling the manifest of {label}"), e))?;
        // The reader compared the body with `Docker-Content-Digest`; the digest it reports must
        // also be the body's own.
        let manifest_digest = Digest::of(&body);
        if header_digest != manifest_digest.to_string() {
            crate::exit::fail!(
                Code::Verification,
                "{} served a manifest for {label} whose digest is {manifest_digest}, \
                 not {header_digest}; nothing was used",
                self.where_(package)
            );
        }
        let (manifest, checked) =
            Manifest::parse(&body).map_err(|e| artifact_error(self, label, package, e))?;
        let layer_size = manifest.layers[0].size;
        let progress = Transfer::new(format!("downloading {label}"), Some(layer_size));
        let (config, layer) = tokio::join!(
            self.pull_blob(&repository, &checked.config, manifest.config.size),
            self.pull_blob(&repository, &checked.layer, layer_size),
        );
        let config = config
            .map_err(|e| self.explain(package, &format!("pulling the config of {label}"), e))?;
        let layer = layer
            .map_err(|e| self.explain(package, &format!("pulling the layer of {label}"), e))?;
        progress.inc(layer.len() as u64);
        progress.finish();
        for (bytes, expected, what) in [
            (&config, checked.config, "config"),
            (&layer, checked.layer, "layer"),
        ] {
            let actual = Digest::of(bytes);
            if actual != expected {
                crate::exit::fail!(
                    Code::Verification,
                    "{} served a {what} for {label} with digest {actual}, but its \
                     manifest names {expected}; nothing was used or cached",
                    self.where_(package)
                );
            }
        }
        WasmConfig::parse(&config).map_err(|e| artifact_error(self, label, package, e))?;
        artifact::check_layer(&layer).map_err(|e| artifact_error(self, label, package, e))?;
        Ok(layer)
    }
}

#[async_trait::async_trait]
impl Backend for OciBackend {
    async fn releases(&self, package: &PackageRef) -> Result<Option<Vec<Release>>> {
        let Some(tags) = self.tags(package).await? else {
            return Ok(None);
        };
        let mut releases: Vec<Release> = tags
            .iter()
            .filter_map(|t| tag_version(t))
            .map(|version| Release {
                version,
                digest: None,
                yanked: false,
            })
            .collect();
        releases.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(Some(releases))
    }

    fn describe(&self, package: &PackageRef) -> String {
        self.where_(package)
    }

    async fn download(&self, package: &PackageRef, release: &Release) -> Result<Vec<u8>> {
        let version = &release.version;
        let reference = self.reference(package, &version.to_string());
        self.pull(&reference, &format!("{package}@{version}"), package)
            .await
    }

    fn signs(&self) -> bool {
        false
    }

    fn check_version(&self, package: &PackageRef, version: &Version) -> Result<()> {
        if !version.build.is_empty() {
            crate::exit::fail!(
                Code::Usage,
                "{package}@{version} has build metadata (`+{}`), which an OCI tag cannot carry \
                 (`+` is not a tag character); publish it as {}.{}.{}{} to {}",
                version.build,
                version.major,
                version.minor,
                version.patch,
                if version.pre.is_empty() {
                    String::new()
                } else {
                    format!("-{}", version.pre)
                },
                self.where_(package)
            );
        }
        Ok(())
    }

    fn overwrites(&self) -> bool {
        true
    }

    fn fetches_by_version(&self) -> bool {
        true
    }

    async fn publish(
        &self,
        package: &PackageRef,
        version: &Version,
        bytes: &[u8],
        _key: Option<&PrivateKey>,
        progress: &Transfer,
    ) -> Result<Published> {
        self.check_version(package, version)?;
        artifact::check_layer(bytes).map_err(|e| {
            coded(
                Code::InvalidInput,
                anyhow!("cannot publish {package}@{version}: {e}"),
            )
        })?;
        let built = artifact::build(
            package.name().as_ref(),
            version,
            bytes,
            artifact::component_info(bytes),
            artifact::Annotations::of(bytes),
        );
        let reference = self.reference(package, &version.to_string());
        let auth = self.push_auth(package).await?;
        let explain = |what: &str, e| self.explain(package, what, e);
        let client = self.client()?;
        client
            .auth(&reference, &auth, RegistryOperation::Push)
            .await
            .map_err(|e| explain("authenticating to push", e))?;
        let layer_digest = Digest::of(bytes);
        let layer_digest_text = layer_digest.to_string();
        let config_digest_text = built.config_digest.to_string();
        let layer = bytes::Bytes::copy_from_slice(bytes);
        let (l, c) = tokio::join!(
            self.retrying("pushing the layer", || {
                client.push_blob(&reference, layer.clone(), &layer_digest_text)
            }),
            self.retrying("pushing the config", || {
                client.push_blob(&reference, built.config.clone(), &config_digest_text)
            }),
        );
        l.map_err(|e| explain("pushing the layer", e))?;
        c.map_err(|e| explain("pushing the config", e))?;
        progress.inc(bytes.len() as u64);
        let content_type: http::HeaderValue = artifact::MANIFEST_MEDIA_TYPE
            .parse()
            .expect("a header value");
        self.retrying("pushing the manifest", || {
            client.push_manifest_raw(&reference, built.manifest.clone(), content_type.clone())
        })
        .await
        .map_err(|e| explain("pushing the manifest", e))?;
        Ok(Published {
            package: package.clone(),
            version: version.clone(),
            digest: layer_digest,
            registry: self.name.clone(),
            record: None,
            manifest: Some(built.manifest_digest.to_string()),
        })
    }

    async fn yank(
        &self,
        package: &PackageRef,
        version: &Version,
        _: Option<&PrivateKey>,
    ) -> Result<()> {
        crate::exit::fail!(
            Code::Usage,
            "{} is an OCI registry, and OCI has no yank: a tag is either there or deleted. \
             Locks that name {package}@{version} keep working only while the tag exists, so \
             publish a fixed version instead (and, if you must, delete the tag with your \
             registry's own tools, e.g. `skopeo delete docker://{}/{}:{version}`)",
            self.where_(package),
            self.location.registry,
            self.repository(package)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_semver_tags_without_build_metadata_are_versions() {
        assert_eq!(tag_version("1.2.3"), Some(Version::new(1, 2, 3)));
        assert!(tag_version("0.3.0-rc-2025-09-16").is_some());
        assert_eq!(tag_version("latest"), None);
        assert_eq!(tag_version("sha256-0123abcd.sig"), None);
        assert_eq!(tag_version("1.2"), None);
        assert_eq!(tag_version("1.2.3+build"), None);
    }
}
