//! Why a plug filled nothing. `wac plug` only says "no matching imports"; this names the
//! nearest import and what differs: the semver track, the type, or an earlier plug that won.

use crate::plan::{Link, Node};
use serde::Serialize;
use std::fmt;
use wac_graph::types::{are_semver_compatible, Types};

/// A candidate export that had the right name but the wrong type.
pub struct Miss {
    provider: usize,
    consumer: usize,
    export: String,
    import: String,
    detail: String,
}

impl Miss {
    pub fn type_mismatch(
        provider: usize,
        consumer: usize,
        export: &str,
        import: &str,
        error: &anyhow::Error,
    ) -> Self {
        Self {
            provider,
            consumer,
            export: export.to_string(),
            import: import.to_string(),
            detail: format!("{error:#}"),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct UnusedPlug {
    pub plug: String,
    pub exports: Vec<String>,
    pub reasons: Vec<Reason>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    NoExports,
    NoImportsLeft,
    TypeMismatch {
        export: String,
        consumer: String,
        import: String,
        detail: String,
    },
    OtherSemverTrack {
        export: String,
        consumer: String,
        import: String,
    },
    AlreadyFilled {
        export: String,
        consumer: String,
        import: String,
        by: String,
    },
    ClosestName {
        export: String,
        consumer: String,
        import: String,
    },
}

pub(crate) fn explain_unused(
    types: &Types,
    nodes: &[Node<'_>],
    plug: usize,
    links: &[Link],
    used: &[usize],
    misses: &[Miss],
) -> UnusedPlug {
    let exports: Vec<String> = types[nodes[plug].world].exports.keys().cloned().collect();
    let imports: Vec<(usize, &String)> = used
        .iter()
        .filter(|&&c| c != plug)
        .flat_map(|&c| types[nodes[c].world].imports.keys().map(move |i| (c, i)))
        .collect();
    let mut reasons = Vec::new();
    for export in &exports {
        for miss in misses
            .iter()
            .filter(|m| m.provider == plug && &m.export == export)
        {
            reasons.push(Reason::TypeMismatch {
                export: export.clone(),
                consumer: nodes[miss.consumer].name.to_string(),
                import: miss.import.clone(),
                detail: miss.detail.clone(),
            });
        }
        for &(consumer, import) in &imports {
            let consumer_name = nodes[consumer].name.to_string();
            if are_semver_compatible(export, import) {
                if let Some(link) = links
                    .iter()
                    .find(|l| l.consumer == consumer && &l.import == import)
                {
                    reasons.push(Reason::AlreadyFilled {
                        export: export.clone(),
                        consumer: consumer_name,
                        import: import.clone(),
                        by: link.provider_name.clone(),
                    });
                }
            } else if unversioned(export) == unversioned(import) {
                reasons.push(Reason::OtherSemverTrack {
                    export: export.clone(),
                    consumer: consumer_name,
                    import: import.clone(),
                });
            }
        }
    }
    if reasons.is_empty() {
        if exports.is_empty() {
            reasons.push(Reason::NoExports);
        } else if let Some((export, (consumer, import))) = closest(&exports, &imports) {
            reasons.push(Reason::ClosestName {
                export: export.clone(),
                consumer: nodes[consumer].name.to_string(),
                import: import.clone(),
            });
        } else {
            reasons.push(Reason::NoImportsLeft);
        }
    }
    UnusedPlug {
        plug: nodes[plug].name.to_string(),
        exports,
        reasons,
    }
}

pub(crate) fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(base, _)| base)
}

fn closest<'a>(
    exports: &'a [String],
    imports: &[(usize, &'a String)],
) -> Option<(&'a String, (usize, &'a String))> {
    exports
        .iter()
        .flat_map(|e| imports.iter().map(move |&i| (e, i)))
        .max_by(|(e1, (_, i1)), (e2, (_, i2))| {
            strsim::normalized_levenshtein(e1, i1)
                .total_cmp(&strsim::normalized_levenshtein(e2, i2))
                // Prefer the earliest pair on ties so the message is deterministic.
                .then(std::cmp::Ordering::Greater)
        })
}

impl fmt::Display for UnusedPlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plug `{}` filled nothing", self.plug)?;
        for reason in &self.reasons {
            write!(f, "\n    - {reason}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NoExports => f.write_str(
                "it exports nothing; is it a command or a library with no exported interface?",
            ),
            Reason::NoImportsLeft => {
                f.write_str("no component in the composition has an import left to fill")
            }
            Reason::TypeMismatch {
                export,
                consumer,
                import,
                detail,
            } => write!(
                f,
                "its export `{export}` matches the import `{import}` of `{consumer}` by name, \
                 but not by type: {detail}. Rebuild the plug against the same WIT as the importer"
            ),
            Reason::OtherSemverTrack {
                export,
                consumer,
                import,
            } => write!(
                f,
                "its export `{export}` is on a different semver track from the import \
                 `{import}` of `{consumer}` ({} vs {}); versions only match within one track \
                 (same major, or same minor for 0.x). Use a plug built for {}",
                track(export),
                track(import),
                track(import),
            ),
            Reason::AlreadyFilled {
                export,
                consumer,
                import,
                by,
            } => write!(
                f,
                "its export `{export}` would fit the import `{import}` of `{consumer}`, but \
                 `{by}` fills it first (earlier plugs win; reorder the --plug flags to change that)"
            ),
            Reason::ClosestName {
                export,
                consumer,
                import,
            } => write!(
                f,
                "none of its exports is imported; the closest pair is its export `{export}` \
                 and the import `{import}` of `{consumer}`"
            ),
        }
    }
}

/// The semver track of a versioned name, as `0.2.x` or `1.x`, for messages.
fn track(name: &str) -> String {
    let Some((_, version)) = name.split_once('@') else {
        return "unversioned".to_string();
    };
    match semver::Version::parse(version) {
        Ok(v) if !v.pre.is_empty() => format!("{v} exactly"),
        Ok(v) if v.major > 0 => format!("{}.x", v.major),
        Ok(v) if v.minor > 0 => format!("0.{}.x", v.minor),
        Ok(v) => format!("{v} exactly"),
        Err(_) => version.to_string(),
    }
}
