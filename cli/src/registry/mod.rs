//! Registries behind one trait. The resolver and the commands only see [`Backend`]; which
//! protocol sits behind a registry name is decided here, from `--registry`, wkg's config, or
//! the registry's `/.well-known/wasm-pkg/registry.json` (or, without one, the API that
//! answers).

pub mod answers;
mod discovery;
mod http;
mod local;
pub mod oci;
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

    /// Where `package` lives, for messages: the registry, and what it calls the package.
    fn describe(&self, _package: &PackageRef) -> String {
        String::new()
    }

    /// Whether `version` can be published here at all, checked before anything is sent.
    fn check_version(&self, _package: &PackageRef, _version: &Version) -> Result<()> {
        Ok(())
    }

    /// Whether one version can be fetched by its name without listing the others first (an
    /// OCI tag); an exact requirement then skips the listing.
    fn fetches_by_version(&self) -> bool {
        false
    }

    /// Whether a published version can be replaced (an OCI tag can; a warg release cannot).
    fn overwrites(&self) -> bool {
        false
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
    /// The OCI manifest digest (the digest OCI tools show; the lock records `digest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
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
    /// Ask `<base>/.well-known/wasm-pkg/registry.json` which protocol it speaks (or, without
    /// one, the APIs), taking `prefer` when it offers a choice.
    Discover {
        base: String,
        prefer: Option<Protocol>,
    },
    /// A warg server at this URL (from inline metadata in wkg's config).
    Warg(String),
    /// An OCI registry.
    Oci(oci::OciLocation),
    /// wkg's local-directory layout, `<root>/<ns>/<name>/<version>.wasm`.
    Local(PathBuf),
    /// A protocol wtool does not speak yet.
    Unsupported(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Oci,
    Warg,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Oci => "OCI",
            Protocol::Warg => "warg",
        })
    }
}

/// What discovery found, remembered in the registry's cache directory so that later runs
/// skip the exchange.
#[derive(serde::Serialize, serde::Deserialize)]
struct Discovered {
    base: String,
    prefer: Option<Protocol>,
    warg: Option<String>,
    oci: Option<oci::OciLocation>,
}

/// Everything needed to reach registries, with backends opened on first use only: a run that
/// the lock and the cache can serve never touches the network.
pub struct Registries {
    settings: Arc<Settings>,
    overridden: Option<RegistryRef>,
    offline: bool,
    read_only: bool,
    open: tokio::sync::Mutex<HashMap<String, Arc<dyn Backend>>>,
    /// Packages named by a direct reference, with the registry it names.
    pinned: HashMap<String, RegistryRef>,
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
            pinned: HashMap::new(),
        })
    }

    /// A package spec that is a direct reference takes its package from the registry it
    /// names, whatever the config maps its namespace to.
    pub fn pin(&mut self, spec: &crate::package_spec::PackageSpec) -> Result<()> {
        if let Some(flag) = &spec.registry {
            let registry = parse_registry_flag(flag).code(Code::Usage)?;
            self.pinned.insert(spec.name.to_string(), registry);
        }
        Ok(())
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The registry that serves `package`: `--registry`, then wkg's package override, namespace
    /// mapping and default, then wtool's default, then wkg's built-in fallbacks.
    pub fn for_package(&self, package: &PackageRef) -> Result<RegistryRef> {
        if let Some(r) = self.pinned.get(&package.to_string()) {
            return Ok(r.clone());
        }
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
            let meta = metadata_json(&custom.metadata)?;
            let prefer = self.configured_protocol(&name);
            let location = match discovery::from_metadata(&name, &meta, prefer)? {
                // Inline metadata that names no OCI host means the registry's own.
                Location::Oci(mut o) if o.registry.is_empty() => {
                    o.http = is_loopback(&name);
                    o.registry = name.clone();
                    Location::Oci(o)
                }
                other => other,
            };
            return Ok(RegistryRef { location, name });
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

    /// The protocol wkg's config selects for a registry (`default`/`type`, or its only
    /// backend table).
    fn configured_protocol(&self, name: &str) -> Option<Protocol> {
        let reg = name.parse().ok()?;
        let config = self.settings.wkg.registry_config(&reg)?;
        let backend = config
            .default_backend()
            .map(str::to_string)
            .or_else(|| config.configured_backend_types().next().map(str::to_string));
        match backend.as_deref() {
            Some("oci") => Some(Protocol::Oci),
            Some("warg") => Some(Protocol::Warg),
            _ => None,
        }
    }

    fn configured_location(&self, name: &str) -> Location {
        let discover = || Location::Discover {
            base: base_url(name),
            prefer: self.configured_protocol(name),
        };
        let Ok(reg) = name.parse() else {
            return discover();
        };
        let Some(config) = self.settings.wkg.registry_config(&reg) else {
            return discover();
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
            Some("oci" | "warg") | None => discover(),
            Some(other) => Location::Unsupported(format!(
                "registry `{name}` selects the `{other}` backend in wkg's config, which this \
                 wtool does not speak (it speaks `oci`, `warg` and `local`)"
            )),
        }
    }

    /// The settings of `[registry."<name>".oci]` in wkg's config, checked.
    fn oci_table(&self, name: &str) -> Result<oci::OciTable> {
        let Ok(reg) = name.parse() else {
            return Ok(Default::default());
        };
        let Some(config) = self.settings.wkg.registry_config(&reg) else {
            return Ok(Default::default());
        };
        let table = config
            .backend_config::<oci::OciTable>("oci")
            .map_err(|e| {
                anyhow::anyhow!(
                    "wkg's config: [registry.\"{name}\".oci] is not valid: {e}; expected \
                     `protocol = \"http\"|\"https\"` and `auth = {{ username = \"…\", password = \"…\" }}`"
                )
            })
            .code(Code::Usage)?;
        let table = table.unwrap_or_default();
        if let Some(p) = table
            .protocol
            .as_deref()
            .filter(|p| !matches!(*p, "http" | "https"))
        {
            crate::exit::fail!(
                Code::Usage,
                "wkg's config: [registry.\"{name}\".oci] protocol is `{p}`; expected \"http\" or \"https\""
            );
        }
        Ok(table)
    }

    fn open_oci(
        &self,
        registry: &RegistryRef,
        mut location: oci::OciLocation,
    ) -> Result<Arc<dyn Backend>> {
        let table = self.oci_table(&registry.name)?;
        match table.protocol.as_deref() {
            Some("http") => location.http = true,
            Some("https") => location.http = false,
            _ => {}
        }
        let credentials = oci::auth::find(
            &self.settings,
            &registry.name,
            &location.registry,
            table.auth.as_ref(),
        );
        tracing::debug!(
            "registry `{}`: OCI at {} (prefix `{}`), credentials from {}",
            registry.name,
            location.registry,
            location.prefix,
            credentials.source
        );
        let extra_ca = self.settings.ca_file(&registry.name)?;
        Ok(Arc::new(oci::OciBackend::new(
            &registry.name,
            location,
            table,
            credentials,
            extra_ca,
        )?))
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
            Location::Discover { base, prefer } => {
                if self.offline {
                    bail!(
                        "registry `{}` is needed but --offline forbids the network",
                        registry.name
                    );
                }
                match self.remembered(registry, base, *prefer) {
                    Some(location) => location,
                    None => {
                        let location = discovery::discover(&registry.name, base, *prefer).await?;
                        self.remember(registry, base, *prefer, &location);
                        location
                    }
                }
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
            Location::Oci(location) => {
                if self.offline {
                    bail!(
                        "registry `{}` is needed but --offline forbids the network",
                        registry.name
                    );
                }
                self.open_oci(registry, location)?
            }
            Location::Unsupported(why) => bail!("{why}"),
            Location::Discover { .. } => unreachable!("discovery returns a concrete location"),
        };
        open.insert(registry.name.clone(), backend.clone());
        Ok(backend)
    }

    fn discovered_path(&self, registry: &RegistryRef) -> PathBuf {
        self.cache(registry).root().join("discovered.json")
    }

    fn remembered(
        &self,
        registry: &RegistryRef,
        base: &str,
        prefer: Option<Protocol>,
    ) -> Option<Location> {
        let text = std::fs::read(self.discovered_path(registry)).ok()?;
        let d: Discovered = serde_json::from_slice(&text).ok()?;
        if d.base != base || d.prefer != prefer {
            return None;
        }
        match (d.warg, d.oci) {
            (Some(url), None) => Some(Location::Warg(url)),
            (None, Some(oci)) => Some(Location::Oci(oci)),
            _ => None,
        }
    }

    fn remember(
        &self,
        registry: &RegistryRef,
        base: &str,
        prefer: Option<Protocol>,
        location: &Location,
    ) {
        if self.read_only {
            return;
        }
        let (warg, oci) = match location {
            Location::Warg(url) => (Some(url.clone()), None),
            Location::Oci(o) => (None, Some(o.clone())),
            _ => return,
        };
        let d = Discovered {
            base: base.to_string(),
            prefer,
            warg,
            oci,
        };
        let bytes = serde_json::to_vec_pretty(&d).expect("serializes");
        if let Err(e) = crate::atomic::write_creating_dir(&self.discovered_path(registry), &bytes) {
            tracing::debug!(
                "cannot remember what registry `{}` speaks: {e:#}",
                registry.name
            );
        }
    }
}

/// wkg's parsed inline metadata as the JSON document it stands for, legacy OCI keys included
/// (they are not serialized back).
fn metadata_json(meta: &wasm_pkg_common::metadata::RegistryMetadata) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(meta)?;
    if let Ok(Some(oci)) = meta.protocol_config::<serde_json::Value>("oci") {
        value["oci"] = oci;
    }
    Ok(value)
}

/// Whether `host[:port]` is this machine: the only hosts that get plain HTTP by default.
pub fn is_loopback(name: &str) -> bool {
    url::Url::parse(&format!("http://{name}"))
        .ok()
        .and_then(|url| url.host().map(|h| h.to_owned()))
        .is_some_and(|host| match host {
            url::Host::Domain(d) => d == "localhost",
            url::Host::Ipv4(ip) => ip.is_loopback(),
            url::Host::Ipv6(ip) => ip.is_loopback(),
        })
}

/// `--registry` takes a URL (`oci+http(s)://host[/prefix]` and `warg+http(s)://host` name the
/// protocol), a bare `host[:port]`, or a directory (wkg's local layout).
fn parse_registry_flag(value: &str) -> Result<RegistryRef> {
    if value.contains("://") {
        let (protocol, rest) = match value.split_once('+') {
            Some(("oci", rest)) => (Some(Protocol::Oci), rest),
            Some(("warg", rest)) => (Some(Protocol::Warg), rest),
            _ => (None, value),
        };
        let url = url::Url::parse(rest)
            .map_err(|e| anyhow::anyhow!("`{value}` is not a registry URL: {e}"))?;
        if protocol.is_some() && !matches!(url.scheme(), "http" | "https") {
            bail!("`{value}` is not a registry URL: after `oci+` or `warg+` comes http:// or https://");
        }
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
        let location = match protocol {
            Some(Protocol::Oci) => {
                // The path, if any, is the namespace prefix: `oci+https://ghcr.io/webassembly/`.
                let path = url.path().trim_matches('/');
                Location::Oci(oci::OciLocation {
                    registry: name.clone(),
                    prefix: if path.is_empty() {
                        String::new()
                    } else {
                        format!("{path}/")
                    },
                    http: url.scheme() == "http",
                })
            }
            Some(Protocol::Warg) => Location::Warg(url.as_str().trim_end_matches('/').to_string()),
            None => Location::Discover {
                base: url.as_str().trim_end_matches('/').to_string(),
                prefer: None,
            },
        };
        return Ok(RegistryRef { name, location });
    }
    let path = std::path::Path::new(value);
    if path.is_dir() || value.starts_with('.') || value.starts_with('/') {
        return Ok(local_ref(value));
    }
    Ok(RegistryRef {
        name: value.to_string(),
        location: Location::Discover {
            base: base_url(value),
            prefer: None,
        },
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
    if is_loopback(name) {
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
        let Location::Discover { base, .. } = r.location else {
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

    #[test]
    fn urls_can_name_the_protocol() {
        let r = parse_registry_flag("oci+http://127.0.0.1:5000/acme-org/").unwrap();
        let Location::Oci(o) = r.location else {
            panic!("{:?}", r.location)
        };
        assert_eq!(r.name, "127.0.0.1:5000");
        assert_eq!(
            (o.registry.as_str(), o.prefix.as_str(), o.http),
            ("127.0.0.1:5000", "acme-org/", true)
        );
        let r = parse_registry_flag("warg+https://warg.example/").unwrap();
        assert!(matches!(r.location, Location::Warg(u) if u == "https://warg.example"));
        assert!(parse_registry_flag("oci+file:///x").is_err());
    }

    #[test]
    fn wasi_packages_reach_ghcr_through_wasi_dev_with_no_config() {
        let settings = Arc::new(Settings {
            wkg: Default::default(),
            wtool: Default::default(),
            config_dir: PathBuf::new(),
            cache_dir: PathBuf::new(),
        });
        let registries = Registries::new(settings, None, false, false).unwrap();
        let r = registries.for_package(&"wasi:io".parse().unwrap()).unwrap();
        assert_eq!(r.name, "wasi.dev");
        assert!(
            matches!(&r.location, Location::Discover { base, prefer: None } if base == "https://wasi.dev"),
            "{:?}",
            r.location
        );
        // What wasi.dev serves.
        let served =
            serde_json::json!({"ociRegistry": "ghcr.io", "ociNamespacePrefix": "webassembly/"});
        let Location::Oci(o) = discovery::from_metadata("wasi.dev", &served, None).unwrap() else {
            panic!()
        };
        assert_eq!(
            (o.registry.as_str(), o.prefix.as_str(), o.http),
            ("ghcr.io", "webassembly/", false)
        );
    }

    fn pair_of(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }
}
