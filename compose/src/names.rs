//! Interface names and their semver tracks: the one place that decides whether two names
//! (`wasi:cli/stdout@0.2.6` and `wasi:cli/stdout@0.2.9`) or two versions stand for the same
//! thing.
//!
//! The rule is the one `wac` and the component model's runtimes link by: a version matches the
//! versions of its track, which is everything with the same major version (`1.x`), or with the
//! same minor version before 1.0 (`0.2.x`). A pre-release, or a `0.0.z` version, is a track of
//! its own. Names match when they are equal, or when they differ only in versions on one track.

use indexmap::IndexMap;
use semver::Version;
use std::fmt;

/// The versions that may stand in for each other, as messages name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Track {
    /// A name without `@version`: it matches only itself.
    Unversioned,
    /// `X.*` for a major version X ≥ 1.
    Major(u64),
    /// `0.Y.*` for Y ≥ 1.
    Minor(u64),
    /// A pre-release or a `0.0.z` version: only this version.
    Exact(Version),
    /// A version that does not parse as semver: only this text.
    Unparsed(String),
}

impl Track {
    /// The track of `version`.
    pub fn of(version: &Version) -> Track {
        if !version.pre.is_empty() || (version.major == 0 && version.minor == 0) {
            Track::Exact(version.clone())
        } else if version.major > 0 {
            Track::Major(version.major)
        } else {
            Track::Minor(version.minor)
        }
    }

    /// The track of the version in an interface name (`ns:pkg/iface@1.2.3`).
    pub fn of_name(name: &str) -> Track {
        match version(name) {
            None => Track::Unversioned,
            Some(text) => match Version::parse(text) {
                Ok(v) => Track::of(&v),
                Err(_) => Track::Unparsed(text.to_string()),
            },
        }
    }

    /// Whether this track holds more than one version, so that two different versions can
    /// meet on it.
    fn is_shared(&self) -> bool {
        matches!(self, Track::Major(_) | Track::Minor(_))
    }
}

impl fmt::Display for Track {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Track::Unversioned => f.write_str("unversioned"),
            Track::Major(major) => write!(f, "{major}.x"),
            Track::Minor(minor) => write!(f, "0.{minor}.x"),
            Track::Exact(v) => write!(f, "{v} exactly"),
            Track::Unparsed(text) => f.write_str(text),
        }
    }
}

/// Whether `a` and `b` are on one semver track, so that either may serve for the other.
/// Equal versions always are; see the module's documentation for the others.
pub fn same_track(a: &Version, b: &Version) -> bool {
    if a == b {
        return true;
    }
    let track = Track::of(a);
    track.is_shared() && track == Track::of(b)
}

/// A name without its `@version`: `wasi:cli/stdout@0.2.6` → `wasi:cli/stdout`.
pub fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(base, _)| base)
}

/// The version text after `@`, if the name has one.
pub fn version(name: &str) -> Option<&str> {
    name.split_once('@').map(|(_, version)| version)
}

/// How two interface names relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// Equal, or versions of one interface on one semver track: either serves for the other.
    Matches,
    /// One interface at versions on different tracks: a plug built for one does not serve the
    /// other.
    OtherTrack,
    /// Different interfaces.
    Unrelated,
}

/// How the names `a` and `b` relate.
pub fn relation(a: &str, b: &str) -> Relation {
    if a == b {
        return Relation::Matches;
    }
    // Comparing the part before `@` first skips parsing two versions for most pairs.
    if unversioned(a) != unversioned(b) {
        return Relation::Unrelated;
    }
    let parse = |name| version(name).and_then(|v| Version::parse(v).ok());
    match (parse(a), parse(b)) {
        (Some(va), Some(vb)) if same_track(&va, &vb) => Relation::Matches,
        _ => Relation::OtherTrack,
    }
}

/// Whether `a` and `b` name the same interface on one semver track.
pub fn matches(a: &str, b: &str) -> bool {
    relation(a, b) == Relation::Matches
}

/// The entry of `items` that serves for `name`: the one with exactly that name, else the one
/// with the highest version on the same semver track (the first of equal ones). This is how a
/// plug's export is picked for an import, and how a host (or a target world) offers an import.
pub fn lookup<'m, V>(items: &'m IndexMap<String, V>, name: &str) -> Option<(&'m String, &'m V)> {
    items.get_key_value(name).or_else(|| {
        items
            .iter()
            .filter(|(item, _)| matches(item, name))
            .reduce(|best, next| {
                if parsed_version(next.0) > parsed_version(best.0) {
                    next
                } else {
                    best
                }
            })
    })
}

/// The semver version of an interface name, if it has one that parses.
pub fn parsed_version(name: &str) -> Option<Version> {
    version(name).and_then(|v| Version::parse(v).ok())
}

/// The short name of an interface: `example:logging/logger@0.1.0` → `logger`. A plain name
/// (`run`) is its own short name.
pub fn short_name(name: &str) -> &str {
    let base = unversioned(name);
    base.rsplit_once('/').map_or(base, |(_, short)| short)
}

/// Why [`select`] found no single name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Nothing is called that.
    Absent,
    /// More than one name fits; these are the candidates.
    Ambiguous(Vec<String>),
}

/// The one of `names` that the user means by `selector`: the exact name, else the one name on
/// its semver track, else the one whose name without version (`example:logging/logger`) or
/// short name (`logger`) it is.
pub fn select<'a>(
    names: impl Iterator<Item = &'a String> + Clone,
    selector: &str,
) -> Result<&'a String, Selection> {
    if let Some(name) = names.clone().find(|n| *n == selector) {
        return Ok(name);
    }
    let rules: [&dyn Fn(&str) -> bool; 3] = [
        &|n| matches(n, selector),
        &|n| unversioned(n) == selector,
        &|n| short_name(n) == selector,
    ];
    for rule in rules {
        let found: Vec<&String> = names.clone().filter(|n| rule(n)).collect();
        match found.as_slice() {
            [] => continue,
            [one] => return Ok(one),
            many => {
                return Err(Selection::Ambiguous(
                    many.iter().map(|n| n.to_string()).collect(),
                ))
            }
        }
    }
    Err(Selection::Absent)
}

/// Whether the host import `import` is one that `allowed` names: an interface on its semver
/// track, an interface without version (every version), or a whole package (`wasi:io`,
/// `wasi:io@0.2.0`).
pub fn allows(allowed: &str, import: &str) -> bool {
    if matches(allowed, import)
        || unversioned(allowed) == unversioned(import) && version(allowed).is_none()
    {
        return true;
    }
    let package = |name: &str| {
        unversioned(name)
            .split_once('/')
            .map(|(p, _)| p.to_string())
    };
    !unversioned(allowed).contains('/')
        && package(import).as_deref() == Some(unversioned(allowed))
        && match (parsed_version(allowed), parsed_version(import)) {
            (None, _) => version(allowed).is_none(),
            (Some(a), Some(i)) => same_track(&a, &i),
            (Some(_), None) => false,
        }
}

/// The position in `names` of the one that serves for `name`, by the rule of [`lookup`].
pub fn position<'a>(names: impl Iterator<Item = &'a str> + Clone, name: &str) -> Option<usize> {
    names
        .clone()
        .position(|n| n == name)
        .or_else(|| names.into_iter().position(|n| matches(n, name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn tracks_follow_cargo_series() {
        assert!(same_track(&v("1.2.0"), &v("1.0.0")));
        assert!(!same_track(&v("2.0.0"), &v("1.0.0")));
        assert!(same_track(&v("0.2.1"), &v("0.2.0")));
        assert!(!same_track(&v("0.3.0"), &v("0.2.0")));
        assert!(!same_track(&v("0.0.2"), &v("0.0.1")));
        assert!(same_track(&v("0.0.1"), &v("0.0.1")));
        assert!(!same_track(&v("1.0.0-rc.1"), &v("1.0.0")));
        assert!(!same_track(&v("1.0.0-rc.1"), &v("1.0.0-rc.2")));
    }

    #[test]
    fn names_match_like_wac() {
        // The planner must agree with the encoder, which merges imports by wac's rule.
        let names = [
            "a:b/c",
            "a:b/c@0.2.0",
            "a:b/c@0.2.6",
            "a:b/c@0.3.0",
            "a:b/c@1.0.0",
            "a:b/c@1.4.2",
            "a:b/c@2.0.0",
            "a:b/c@0.0.1",
            "a:b/c@0.0.2",
            "a:b/c@1.0.0-rc.1",
            "a:b/d@0.2.0",
            "a:b/c@bad",
        ];
        for a in names {
            for b in names {
                assert_eq!(
                    matches(a, b),
                    wac_graph::types::are_semver_compatible(a, b),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn relations() {
        assert_eq!(relation("a:b/c@0.2.0", "a:b/c@0.2.9"), Relation::Matches);
        assert_eq!(relation("a:b/c@0.2.0", "a:b/c@0.3.0"), Relation::OtherTrack);
        assert_eq!(relation("a:b/c", "a:b/c@0.3.0"), Relation::OtherTrack);
        assert_eq!(relation("a:b/c@0.2.0", "a:b/d@0.2.0"), Relation::Unrelated);
    }

    #[test]
    fn tracks_as_messages_name_them() {
        let track = |name| Track::of_name(name).to_string();
        assert_eq!(track("a:b/c@0.2.6"), "0.2.x");
        assert_eq!(track("a:b/c@3.1.0"), "3.x");
        assert_eq!(track("a:b/c@0.0.4"), "0.0.4 exactly");
        assert_eq!(track("a:b/c@1.0.0-rc.1"), "1.0.0-rc.1 exactly");
        assert_eq!(track("a:b/c"), "unversioned");
        assert_eq!(track("a:b/c@bad"), "bad");
    }

    #[test]
    fn lookup_prefers_the_exact_name() {
        let items: IndexMap<String, u8> = [("a:b/c@0.2.1", 1), ("a:b/c@0.2.0", 2)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(lookup(&items, "a:b/c@0.2.0").map(|(_, v)| *v), Some(2));
        assert_eq!(lookup(&items, "a:b/c@0.2.7").map(|(_, v)| *v), Some(1));
        assert_eq!(lookup(&items, "a:b/c@0.3.0"), None);
        let names = ["x", "a:b/c@0.2.1"];
        assert_eq!(position(names.iter().copied(), "a:b/c@0.2.4"), Some(1));
    }

    #[test]
    fn lookup_takes_the_highest_compatible_version() {
        let items: IndexMap<String, u8> =
            [("a:b/c@0.2.1", 1), ("a:b/c@0.2.4", 2), ("a:b/c@0.2.4-x", 3)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
        assert_eq!(lookup(&items, "a:b/c@0.2.0").map(|(_, v)| *v), Some(2));
        assert_eq!(lookup(&items, "a:b/c@0.2.1").map(|(_, v)| *v), Some(1));
    }

    #[test]
    fn selectors_accept_unambiguous_short_names() {
        let names: Vec<String> = [
            "example:logging/logger@0.1.0",
            "wasi:cli/run@0.2.6",
            "wasi:http/handler@0.2.6",
            "acme:http/handler@1.0.0",
        ]
        .iter()
        .map(|n| n.to_string())
        .collect();
        let pick = |s| select(names.iter(), s);
        assert_eq!(pick("logger").unwrap(), "example:logging/logger@0.1.0");
        assert_eq!(
            pick("example:logging/logger@0.1.3").unwrap(),
            "example:logging/logger@0.1.0"
        );
        assert_eq!(pick("wasi:cli/run").unwrap(), "wasi:cli/run@0.2.6");
        assert_eq!(
            pick("handler"),
            Err(Selection::Ambiguous(vec![
                "wasi:http/handler@0.2.6".into(),
                "acme:http/handler@1.0.0".into()
            ]))
        );
        assert_eq!(pick("nothing"), Err(Selection::Absent));
    }

    #[test]
    fn allowed_host_imports() {
        assert!(allows("wasi:cli/stdout@0.2.0", "wasi:cli/stdout@0.2.6"));
        assert!(allows("wasi:cli/stdout", "wasi:cli/stdout@0.2.6"));
        assert!(allows("wasi:cli", "wasi:cli/stdout@0.2.6"));
        assert!(allows("wasi:cli@0.2.1", "wasi:cli/stdout@0.2.6"));
        assert!(!allows("wasi:cli@0.3.0", "wasi:cli/stdout@0.2.6"));
        assert!(!allows("wasi:io", "wasi:cli/stdout@0.2.6"));
        assert!(!allows("wasi:cli/stderr", "wasi:cli/stdout@0.2.6"));
    }
}
