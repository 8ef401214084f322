//! Explanations read off a [`Plan`]: why a plug filled nothing, and which exports matched an
//! import by name but not by type. `wac plug` only says "no matching imports"; this names the
//! nearest import and what differs: the semver track, the type, or an earlier plug that won.

use crate::names::{self, Relation, Track};
use crate::plan::{InputId, Participant, Plan};
use serde::Serialize;
use std::fmt;
use wac_graph::types::Types;

/// A plug that filled nothing, with the reasons why.
#[derive(Clone, Debug, Serialize)]
pub struct UnusedPlug {
    /// The plug's name.
    pub plug: String,
    /// Everything it exports.
    pub exports: Vec<String>,
    /// Why none of them filled an import; never empty.
    pub reasons: Vec<Reason>,
}

/// One reason why a plug filled nothing.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    /// The plug exports nothing.
    NoExports,
    /// No instantiated input imports anything.
    NoImportsLeft,
    /// An export has an import's name but another type.
    TypeMismatch {
        /// The plug's export.
        export: String,
        /// The input with the import.
        consumer: String,
        /// The import.
        import: String,
        /// What differs.
        detail: String,
    },
    /// An export names an import's interface at a version on another semver track.
    OtherSemverTrack {
        /// The plug's export.
        export: String,
        /// The input with the import.
        consumer: String,
        /// The import.
        import: String,
    },
    /// An export would fit an import that an earlier plug fills.
    AlreadyFilled {
        /// The plug's export.
        export: String,
        /// The input with the import.
        consumer: String,
        /// The import.
        import: String,
        /// The plug that fills it.
        by: String,
    },
    /// Nothing matches; the names closest to each other.
    ClosestName {
        /// The plug's export.
        export: String,
        /// The input with the import.
        consumer: String,
        /// The import.
        import: String,
    },
}

/// An export of a plug that matches an import by name but not by type.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Mismatch {
    /// The plug with the export.
    pub plug: String,
    /// The export.
    pub export: String,
    /// The input with the import.
    pub consumer: String,
    /// The import.
    pub import: String,
    /// What differs, from the subtype check.
    pub detail: String,
    /// The plug that filled the import instead, if one did; otherwise the import is left for
    /// the host.
    pub filled_by: Option<String>,
}

/// Every type mismatch in `plan`, in the order the planner found them.
pub fn mismatches(inputs: &[Participant<'_>], plan: &Plan) -> Vec<Mismatch> {
    let name = |id: InputId| inputs[id.index()].name.to_string();
    plan.misses
        .iter()
        .map(|miss| Mismatch {
            plug: name(miss.provider),
            export: miss.export.clone(),
            consumer: name(miss.consumer),
            import: miss.import.clone(),
            detail: miss.detail.clone(),
            filled_by: plan
                .link_for(miss.consumer, &miss.import)
                .map(|link| name(link.provider)),
        })
        .collect()
}

/// The plugs that `plan` leaves out, each with the reasons why.
pub fn unused(types: &Types, inputs: &[Participant<'_>], plan: &Plan) -> Vec<UnusedPlug> {
    InputId::plugs(inputs.len())
        .filter(|&plug| !plan.is_used(plug))
        .map(|plug| explain_unused(types, inputs, plug, plan))
        .collect()
}

fn explain_unused(
    types: &Types,
    inputs: &[Participant<'_>],
    plug: InputId,
    plan: &Plan,
) -> UnusedPlug {
    let name = |id: InputId| inputs[id.index()].name.to_string();
    let exports: Vec<String> = types[inputs[plug.index()].world]
        .exports
        .keys()
        .cloned()
        .collect();
    let imports: Vec<(InputId, &String)> = plan
        .used
        .iter()
        .filter(|&&c| c != plug)
        .flat_map(|&c| {
            types[inputs[c.index()].world]
                .imports
                .keys()
                .map(move |i| (c, i))
        })
        .collect();
    let mut reasons = Vec::new();
    for export in &exports {
        for miss in plan
            .misses
            .iter()
            .filter(|m| m.provider == plug && &m.export == export)
        {
            reasons.push(Reason::TypeMismatch {
                export: export.clone(),
                consumer: name(miss.consumer),
                import: miss.import.clone(),
                detail: miss.detail.clone(),
            });
        }
        for &(consumer, import) in &imports {
            match names::relation(export, import) {
                Relation::Matches => {
                    // A mismatch is explained above; an export that fits is only left out
                    // because another plug came first.
                    if let Some(link) = plan.link_for(consumer, import) {
                        let mismatched = plan.misses.iter().any(|m| {
                            m.provider == plug && m.consumer == consumer && &m.import == import
                        });
                        if !mismatched {
                            reasons.push(Reason::AlreadyFilled {
                                export: export.clone(),
                                consumer: name(consumer),
                                import: import.clone(),
                                by: name(link.provider),
                            });
                        }
                    }
                }
                Relation::OtherTrack => reasons.push(Reason::OtherSemverTrack {
                    export: export.clone(),
                    consumer: name(consumer),
                    import: import.clone(),
                }),
                Relation::Unrelated => {}
            }
        }
    }
    if reasons.is_empty() {
        if exports.is_empty() {
            reasons.push(Reason::NoExports);
        } else if let Some((export, (consumer, import))) = closest(&exports, &imports) {
            reasons.push(Reason::ClosestName {
                export: export.clone(),
                consumer: name(consumer),
                import: import.clone(),
            });
        } else {
            reasons.push(Reason::NoImportsLeft);
        }
    }
    UnusedPlug {
        plug: name(plug),
        exports,
        reasons,
    }
}

fn closest<'a>(
    exports: &'a [String],
    imports: &[(InputId, &'a String)],
) -> Option<(&'a String, (InputId, &'a String))> {
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

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Mismatch {
            plug,
            export,
            consumer,
            import,
            detail,
            filled_by,
        } = self;
        write!(
            f,
            "the export `{export}` of plug `{plug}` matches the import `{import}` of \
             `{consumer}` by name, but not by type: {detail}. "
        )?;
        match filled_by {
            Some(by) => write!(f, "`{by}` fills the import instead"),
            None => write!(f, "The import is left for the host"),
        }
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
                Track::of_name(export),
                Track::of_name(import),
                Track::of_name(import),
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
