//! Package references as users type them, parsed once at the edge: `ns:name[@requirement]`
//! for what to fetch or compose, and `ns:name@version` for one exact release to publish or yank.

use anyhow::{anyhow, Result};
use semver::{Version, VersionReq};
use std::fmt;
use std::str::FromStr;
use wasm_pkg_common::package::PackageRef;

/// `ns:name`, `ns:name@1.2` (a requirement, `^1.2`), or `ns:name@1.2.3` (exactly that version).
#[derive(Clone, Debug)]
pub struct PackageSpec {
    pub name: PackageRef,
    pub req: VersionReq,
    text: String,
}

impl FromStr for PackageSpec {
    type Err = anyhow::Error;

    fn from_str(spec: &str) -> Result<Self> {
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
    fn a_release_needs_a_version() {
        assert!("acme:log".parse::<ReleaseSpec>().is_err());
        assert!("acme:log@1.2".parse::<ReleaseSpec>().is_err());
        let r: ReleaseSpec = "acme:log@1.2.3".parse().unwrap();
        assert_eq!(r.version, Version::new(1, 2, 3));
    }
}
