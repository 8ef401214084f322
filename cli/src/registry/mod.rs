//! Registries behind one trait. The resolver and the commands only see [`Backend`]; which
//! protocol sits behind a registry name is decided here, from `--registry`, wkg's config, or
//! the registry's `/.well-known/wasm-pkg/registry.json`. An OCI backend slots in as one more
//! implementation.

mod discovery;
mod local;
mod warg;

use crate::cache::{RegistryCache, Release};
use crate::config::Settings;
use crate::digest::Digest;
use crate::exit::{Code, WithCode};
use anyhow::{bail, Result};
use semver::Version;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use wasm_pkg_common::package::PackageRef;

pub use warg_crypto::signing::PrivateKey;

#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Every version the registry has of `package`, yanked ones flagged; `None` if the registry
    /// has no such package.
    async fn releases(&self, package: &PackageRef) -> Result<Option<Vec<Release>>>;

    /// Fetches, in one exchange where the protocol allows it, what `releases` needs for several
    /// packages; `releases` then answers from that. Best effort: if it fails, `releases` asks
    /// for each package itself.
    async fn prefetch(&self, _packages: &[PackageRef]) {}

    /// The bytes of one version. Callers check them against the digest they expect.
    async fn download(&self, package: &PackageRef, release: &Release) -> Result<Vec<u8>>;

    /// Whether publishing needs a signing key (a local directory has no signatures).
    fn signs(&self) -> bool {
        true
    }

    /// Publishes `bytes` as `package@version` and waits until the registry has published it.
    async fn publish(
        &self,
        package: &PackageRef,
        version: &Version,
        bytes: &[u8],
        key: Option<&PrivateKey>,
        progress: &crate::progress::Transfer,
    ) -> Result<Published>;

    async fn yank(
        &self,
        package: &PackageRef,
        version: &Version,
        key: Option<&PrivateKey>,
    ) -> Result<()>;
}

/// A release as the registry published it.
#[derive(Debug, serde::Serialize)]
pub struct Published {
    pub package: PackageRef,
    pub version: Version,
    pub digest: Digest,
    pub registry: String,
    /// The warg log record that published it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

/// Where a registry name leads, decided without touching the network.
#[derive(Clone, Debug)]
pub struct RegistryRef {
    /// The name recorded in `wkg.lock` and used to scope the cache.
    pub name: String,
    pub location: Location,
}

#[derive(Clone, Debug)]
pub enum Location {
    /// Ask `<base>/.well-known/wasm-pkg/registry.json` which protocol it speaks.
    Discover(String),
    /// A warg server at this URL (from inline metadata in wkg's config).
    Warg(String),
    /// wkg's local-directory layout, `<root>/<ns>/<name>/<version>.wasm`.
    Local(PathBuf),
    /// A protocol wtool does not speak yet.
    Unsupported(String),
}

/// Everything needed to reach registries, with backends opened on first use only: a run that
/// the lock and the cache can serve never touches the network.
pub struct Registries {
    settings: Arc<Settings>,
    overridden: Option<RegistryRef>,
    offline: bool,
    read_only: bool,
    open: tokio::sync::Mutex<HashMap<String, Arc<dyn Backend>>>,
}

impl Registries {
    pub fn new(
        settings: Arc<Settings>,
        registry_flag: Option<&str>,
        offline: bool,
        read_only: bool,
    ) -> Result<Self> {
        let overridden = registry_flag
            .map(parse_registry_flag)
            .transpose()
            .code(Code::Usage)?;
        Ok(Self {
            settings,
            overridden,
            offline,
            read_only,
            open: Default::default(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The registry that serves `package`: `--registry`, then wkg's package override, namespace
    /// mapping and default, then wtool's default, then wkg's built-in fallbacks.
    pub fn for_package(&self, package: &PackageRef) -> Result<RegistryRef> {
        if let Some(r) = &self.overridden {
            return Ok(r.clone());
        }
        let wkg = &self.settings.wkg;
        use wasm_pkg_common::config::RegistryMapping;
        let mapping = wkg
            .package_registry_override(package)
            .or_else(|| wkg.namespace_registry(package.namespace()));
        if let Some(RegistryMapping::Custom(custom)) = mapping {
            let name = custom.registry.to_string();
            let meta = serde_json::to_value(&custom.metadata)?;
            return Ok(RegistryRef {
                location: discovery::from_metadata(&name, &meta)?,
                name,
            });
        }
        let name = match mapping {
            Some(RegistryMapping::Registry(r)) => Some(r.to_string()),
            _ => None,
        }
        .or_else(|| wkg.default_registry().map(|r| r.to_string()))
        .or_else(|| self.settings.wtool.default_registry.clone())
        .or_else(|| wkg.resolve_registry(package).map(|r| r.to_string()));
        let Some(name) = name else {
            bail!(
                "no registry is configured for `{package}`; pass --registry URL, or map the \
                 namespace `{}` in {}",
                package.namespace(),
                "$XDG_CONFIG_HOME/wasm-pkg/config.toml"
            );
        };
        Ok(RegistryRef {
            location: self.configured_location(&name),
            name,
        })
    }

    fn configured_location(&self, name: &str) -> Location {
        let Ok(reg) = name.parse() else {
            return Location::Discover(base_url(name));
        };
        let Some(config) = self.settings.wkg.registry_config(&reg) else {
            return Location::Discover(base_url(name));
        };
        #[derive(serde::Deserialize)]
        struct LocalTable {
            root: PathBuf,
        }
        let backend = config
            .default_backend()
            .map(str::to_string)
            .or_else(|| config.configured_backend_types().next().map(str::to_string));
        match backend.as_deref() {
            Some("local") => match config.backend_config::<LocalTable>("local") {
                Ok(Some(t)) => Location::Local(t.root),
                _ => Location::Unsupported(format!(
                    "registry `{name}` selects the local backend but has no `root`"
                )),
            },
            Some("oci") => Location::Unsupported(format!(
                "registry `{name}` is configured for OCI, which this wtool does not speak yet"
            )),
            _ => Location::Discover(base_url(name)),
        }
    }

    pub fn cache(&self, registry: &RegistryRef) -> RegistryCache {
        RegistryCache::new(&self.settings.cache_dir, &registry.name, self.read_only)
    }

    /// Opens (once) the backend behind a registry. This is the only place that may reach the
    /// network on its own (for discovery), so `--offline` stops here.
    pub async fn backend(&self, registry: &RegistryRef) -> Result<Arc<dyn Backend>> {
        let mut open = self.open.lock().await;
        if let Some(b) = open.get(&registry.name) {
            return Ok(b.clone());
        }
        let location = match &registry.location {
            Location::Discover(base) => {
                if self.offline {
                    bail!(
                        "registry `{}` is needed but --offline forbids the network",
                        registry.name
                    );
                }
                discovery::discover(&registry.name, base).await?
            }
            other => other.clone(),
        };
        let backend: Arc<dyn Backend> = match location {
            Location::Local(root) => Arc::new(local::LocalBackend::new(&registry.name, root)),
            Location::Warg(url) => {
                if self.offline {
                    bail!(
                        "registry `{}` is needed but --offline forbids the network",
                        registry.name
                    );
                }
                Arc::new(warg::WargBackend::new(
                    &registry.name,
                    &url,
                    self.cache(registry),
                    self.settings.token(&registry.name),
                )?)
            }
            Location::Unsupported(why) => bail!("{why}"),
            Location::Discover(_) => unreachable!("discovery returns a concrete location"),
        };
        open.insert(registry.name.clone(), backend.clone());
        Ok(backend)
    }
}

/// `--registry` takes a URL, a bare `host[:port]`, or a directory (wkg's local layout).
fn parse_registry_flag(value: &str) -> Result<RegistryRef> {
    if value.contains("://") {
        let url = url::Url::parse(value)
            .map_err(|e| anyhow::anyhow!("`{value}` is not a registry URL: {e}"))?;
        if url.scheme() == "file" {
            let path = url
                .to_file_path()
                .map_err(|()| anyhow::anyhow!("`{value}` is not a local directory URL"))?;
            return Ok(local_ref(&path.to_string_lossy()));
        }
        let Some(host) = url.host_str() else {
            bail!("`{value}` is not a registry URL: it names no host");
        };
        let name = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        return Ok(RegistryRef {
            name,
            location: Location::Discover(url.as_str().trim_end_matches('/').to_string()),
        });
    }
    let path = std::path::Path::new(value);
    if path.is_dir() || value.starts_with('.') || value.starts_with('/') {
        return Ok(local_ref(value));
    }
    Ok(RegistryRef {
        name: value.to_string(),
        location: Location::Discover(base_url(value)),
    })
}

fn local_ref(path: &str) -> RegistryRef {
    RegistryRef {
        name: path.to_string(),
        location: Location::Local(PathBuf::from(path)),
    }
}

/// Loopback registries speak plain HTTP (as wkg assumes); everything else HTTPS. A name that
/// is no `host[:port]` gets HTTPS too, and discovery then says what is wrong with it.
fn base_url(name: &str) -> String {
    let loopback = url::Url::parse(&format!("http://{name}"))
        .ok()
        .and_then(|url| url.host().map(|h| h.to_owned()))
        .is_some_and(|host| match host {
            url::Host::Domain(d) => d == "localhost",
            url::Host::Ipv4(ip) => ip.is_loopback(),
            url::Host::Ipv6(ip) => ip.is_loopback(),
        });
    if loopback {
        format!("http://{name}")
    } else {
        format!("https://{name}")
    }
}

/// Checks bytes from a registry against the digest the caller trusts.
pub fn verify(
    package: &PackageRef,
    version: &Version,
    registry: &str,
    expected: &Digest,
    bytes: &[u8],
    what_expected: &str,
) -> Result<()> {
    let actual = Digest::of(bytes);
    if actual != *expected {
        crate::exit::fail!(
            crate::exit::Code::Verification,
            "registry `{registry}` served different bytes for {package}@{version} than \
             {what_expected} records (expected {expected}, got {actual}); nothing was written. \
             If the package was legitimately republished, delete its entry from wkg.lock and \
             fetch again"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovered(flag: &str) -> (String, String) {
        let r = parse_registry_flag(flag).unwrap();
        let Location::Discover(base) = r.location else {
            panic!("`{flag}` is not discovered: {:?}", r.location)
        };
        (r.name, base)
    }

    #[test]
    fn ipv6_loopback_with_and_without_a_port() {
        assert_eq!(discovered("http://[::1]"), pair_of("[::1]", "http://[::1]"));
        assert_eq!(
            discovered("http://[::1]:8080"),
            pair_of("[::1]:8080", "http://[::1]:8080")
        );
        assert_eq!(discovered("[::1]"), pair_of("[::1]", "http://[::1]"));
        assert_eq!(
            discovered("[::1]:8080"),
            pair_of("[::1]:8080", "http://[::1]:8080")
        );
    }

    #[test]
    fn only_loopback_speaks_plain_http() {
        assert_eq!(base_url("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(base_url("localhost"), "http://localhost");
        assert_eq!(base_url("registry.acme.dev"), "https://registry.acme.dev");
        assert_eq!(base_url("10.0.0.1:80"), "https://10.0.0.1:80");
        assert_eq!(
            discovered("https://registry.acme.dev/"),
            pair_of("registry.acme.dev", "https://registry.acme.dev")
        );
    }

    fn pair_of(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }
}
