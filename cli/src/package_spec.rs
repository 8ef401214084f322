//! Package references as users type them, parsed once at the edge: `ns:name[@requirement]`
//! for what to fetch or compose, and `ns:name@version` for one exact release to publish or yank.

use anyhow::{anyhow, Result};
use semver::{Version, VersionReq};
use std::fmt;
use std::str::FromStr;
use wasm_pkg_common::package::PackageRef;

/// `ns:name`, `ns:name@1.2` (a requirement, `^1.2`), or `ns:name@1.2.3` (exactly that version);
/// or a direct OCI reference, `host[:port]/[prefix/]ns/name:1.2.3`, which also says where.
#[derive(Clone, Debug)]
pub struct PackageSpec {
    pub name: PackageRef,
    pub req: VersionReq,
    /// For a direct OCI reference: the registry, as `--registry` spells it
    /// (`oci+https://ghcr.io/prefix/`).
    pub registry: Option<String>,
    text: String,
}

/// `ghcr.io/acme-org/acme/logger:1.2.0` as `(registry flag, ns:name, version)`; `None` for
/// anything that is no OCI reference with a host and a semver tag.
fn direct_reference(spec: &str) -> Option<Result<(String, PackageRef, Version)>> {
    let (host, path) = spec.split_once('/')?;
    let hostlike = host.contains('.') || host.contains(':') || host == "localhost";
    let (repository, tag) = path.rsplit_once(':')?;
    if !hostlike || repository.contains(':') {
        return None;
    }
    Some((|| {
        let segments: Vec<&str> = repository.split('/').collect();
        let [prefix @ .., ns, name] = segments.as_slice() else {
            anyhow::bail!(
                "`{spec}` is an OCI reference, but its repository `{repository}` needs at least \
                 two parts (`namespace/name`) to name a package"
            );
        };
        let package: PackageRef = format!("{ns}:{name}").parse().map_err(|e| {
            anyhow!("`{spec}`: the repository's last two parts do not name a package: {e}")
        })?;
        let version: Version = tag.parse().map_err(|e| {
            anyhow!("`{spec}`: the tag `{tag}` is not a version (OCI packages are tagged with their semver version): {e}")
        })?;
        let scheme = if crate::registry::is_loopback(host) {
            "http"
        } else {
            "https"
        };
        let prefix: String = prefix.iter().map(|p| format!("{p}/")).collect();
        Ok((format!("oci+{scheme}://{host}/{prefix}"), package, version))
    })())
}

impl FromStr for PackageSpec {
    type Err = anyhow::Error;

    fn from_str(spec: &str) -> Result<Self> {
        if let Some(direct) = direct_reference(spec) {
            let (registry, name, version) = direct?;
            return Ok(Self {
                name,
                req: exactly(&version),
                registry: Some(registry),
                text: spec.to_string(),
            });
        }
        let (name, req) = match spec.split_once('@') {
            Some((n, r)) => (n, Some(r)),
            None => (spec, None),
        };
        let name: PackageRef = name.parse().map_err(|e| {
            anyhow!("`{spec}` is not a package reference (`ns:name[@version]`): {e}")
        })?;
        let req = match req {
            None => VersionReq::STAR,
            Some(r) => match r.parse::<Version>() {
                Ok(v) => exactly(&v),
                Err(_) => r.parse().map_err(|e| {
                    anyhow!("`{r}` in `{spec}` is not a version or version requirement: {e}")
                })?,
            },
        };
        Ok(Self {
            name,
            req,
            registry: None,
            text: spec.to_string(),
        })
    }
}

impl fmt::Display for PackageSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `ns:name@1.2.3`: one exact release, as publish and yank name it.
#[derive(Clone, Debug)]
pub struct ReleaseSpec {
    pub name: PackageRef,
    pub version: Version,
}

impl FromStr for ReleaseSpec {
    type Err = anyhow::Error;

    fn from_str(spec: &str) -> Result<Self> {
        let (name, version) = spec
            .split_once('@')
            .ok_or_else(|| anyhow!("`{spec}` needs a version: `ns:name@1.0.0`"))?;
        let name = name
            .parse()
            .map_err(|e| anyhow!("`{spec}` is not a package reference: {e}"))?;
        let version = version
            .parse()
            .map_err(|e| anyhow!("`{version}` in `{spec}` is not a version: {e}"))?;
        Ok(Self { name, version })
    }
}

/// The requirement that only `version` meets.
pub fn exactly(version: &Version) -> VersionReq {
    VersionReq {
        comparators: vec![semver::Comparator {
            op: semver::Op::Exact,
            major: version.major,
            minor: Some(version.minor),
            patch: Some(version.patch),
            pre: version.pre.clone(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_version_means_exactly_it() {
        let spec: PackageSpec = "acme:log@1.2.3".parse().unwrap();
        assert_eq!(spec.req.to_string(), "=1.2.3");
        let spec: PackageSpec = "acme:log@1.2".parse().unwrap();
        assert_eq!(spec.req.to_string(), "^1.2");
        let spec: PackageSpec = "acme:log".parse().unwrap();
        assert_eq!(spec.req, VersionReq::STAR);
        assert!("acme".parse::<PackageSpec>().is_err());
    }

    #[test]
    fn direct_oci_references_name_the_registry() {
        let spec: PackageSpec = "127.0.0.1:5000/org/logger:1.2.0".parse().unwrap();
        assert_eq!(spec.name.to_string(), "org:logger");
        assert_eq!(spec.req.to_string(), "=1.2.0");
        assert_eq!(spec.registry.as_deref(), Some("oci+http://127.0.0.1:5000/"));
        let spec: PackageSpec = "ghcr.io/webassembly/wasi/http:0.2.1".parse().unwrap();
        assert_eq!(spec.name.to_string(), "wasi:http");
        assert_eq!(
            spec.registry.as_deref(),
            Some("oci+https://ghcr.io/webassembly/")
        );
        assert!("ghcr.io/logger:1.0.0".parse::<PackageSpec>().is_err());
        assert!("ghcr.io/org/logger:latest".parse::<PackageSpec>().is_err());
        assert!("acme:log@1"
            .parse::<PackageSpec>()
            .unwrap()
            .registry
            .is_none());
    }

    #[test]
    fn a_release_needs_a_version() {
        assert!("acme:log".parse::<ReleaseSpec>().is_err());
        assert!("acme:log@1.2".parse::<ReleaseSpec>().is_err());
        let r: ReleaseSpec = "acme:log@1.2.3".parse().unwrap();
        assert_eq!(r.version, Version::new(1, 2, 3));
    }
}
