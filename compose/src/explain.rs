//! Explanations read off a [`Plan`]: why a plug filled nothing, and which exports matched an
//! import by name but not by type. `wac plug` only says "no matching imports"; this names the
//! nearest import and what differs: the semver track, the type, or an earlier plug that won.

use crate::names::{self, Relation, Track};
use crate::plan::{InputId, Link, Participant, Plan, Rule};
use crate::wiring::Resolved;
use serde::Serialize;
use std::fmt;
use wac_graph::types::{ItemKind, SubtypeChecker, Types};

/// What differs between an export and the import it was checked against, item by item: wac's
/// checker stops at the first difference, and a user rebuilding a plug wants them all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Difference {
    /// Items (functions, types) the import uses that the export lacks, with what they are.
    pub missing: Vec<String>,
    /// Descriptions of the missing items: `function `flush``.
    missing_described: Vec<String>,
    /// Items both have, with what differs (naming the parameter, result, field or case).
    pub differing: Vec<(String, String)>,
    /// The checker's own text, when the two are not instances to compare item by item.
    pub other: Option<String>,
}

/// Compares `export` with `import` (both in `types`) item by item.
pub fn difference(types: &Types, export: ItemKind, import: ItemKind) -> Difference {
    let mut cache = Default::default();
    let mut diff = Difference::default();
    if let (ItemKind::Instance(e), ItemKind::Instance(i)) = (export, import) {
        let offered = &types[e].exports;
        for (name, wanted) in &types[i].exports {
            match offered.get(name) {
                None => {
                    diff.missing.push(name.clone());
                    diff.missing_described
                        .push(format!("{} `{name}`", wanted.desc(types)));
                }
                Some(found) => {
                    let mut checker = SubtypeChecker::new(&mut cache);
                    if let Err(e) = checker.is_subtype(*found, types, *wanted, types) {
                        diff.differing.push((name.clone(), format!("{e:#}")));
                    }
                }
            }
        }
    }
    if diff.missing.is_empty() && diff.differing.is_empty() {
        let mut checker = SubtypeChecker::new(&mut cache);
        diff.other = Some(match checker.is_subtype(export, types, import, types) {
            Err(e) => format!("{e:#}"),
            Ok(()) => "the types differ".to_string(),
        });
    }
    diff
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some((last, rest)) = self.missing_described.split_last() {
            let items = if rest.is_empty() {
                last.clone()
            } else {
                format!("{} and {last}", rest.join(", "))
            };
            parts.push(format!("it lacks {items}, which the import uses"));
        }
        for (name, what) in &self.differing {
            parts.push(format!("`{name}` differs: {what}"));
        }
        parts.extend(self.other.clone());
        f.write_str(&parts.join("; "))
    }
}

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
    /// An export would fit an import that another plug fills.
    AlreadyFilled {
        /// The plug's export.
        export: String,
        /// The input with the import.
        consumer: String,
        /// The import.
        import: String,
        /// The plug that fills it.
        by: String,
        /// Why that plug won.
        because: Preference,
    },
    /// An export would fit an import, but the caller had the plug offer other exports only
    /// (`--plug FILE#EXPORT`).
    NotOffered {
        /// The plug's export.
        export: String,
        /// The input with the import.
        consumer: String,
        /// The import.
        import: String,
        /// What the plug offers.
        offered: Vec<String>,
    },
    /// An export would fit an import that the caller keeps for the host.
    KeptForHost {
        /// The plug's export.
        export: String,
        /// The input with the import.
        consumer: String,
        /// The import.
        import: String,
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

/// Why one plug's export filled an import that another's would have fit too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum Preference {
    /// The caller wired the other plug.
    Wire,
    /// The other plug's export has the import's exact name.
    ExactName,
    /// The other plug's export has a higher version.
    HigherVersion {
        /// That export.
        export: String,
    },
    /// Equal versions: the other plug comes earlier on the command line.
    EarlierPlug,
}

impl Preference {
    /// Why `link` won over `export`, an export that fits its import too.
    fn of(link: &Link, export: &str) -> Preference {
        if link.rule == Rule::Wire {
            Preference::Wire
        } else if link.export == link.import && export != link.import {
            Preference::ExactName
        } else if names::parsed_version(&link.export) > names::parsed_version(export) {
            Preference::HigherVersion {
                export: link.export.clone(),
            }
        } else {
            Preference::EarlierPlug
        }
    }
}

impl fmt::Display for Preference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Preference::Wire => f.write_str("a --wire says so"),
            Preference::ExactName => f.write_str("its export has the exact name, which beats a semver-compatible one"),
            Preference::HigherVersion { export } => write!(
                f,
                "its export `{export}` has a higher version, and the highest compatible version wins"
            ),
            Preference::EarlierPlug => f.write_str(
                "it comes earlier on the command line (of equal versions the earlier plug wins; \
                 reorder the --plug flags or use --wire to change that)",
            ),
        }
    }
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
    /// The functions (or other items) the import uses that the export lacks.
    pub missing: Vec<String>,
    /// What differs, naming every missing or differing function.
    pub detail: String,
    /// The plug that filled the import instead, if one did; otherwise the import is left for
    /// the host.
    pub filled_by: Option<String>,
    /// Whether the caller keeps the import for the host on purpose.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub kept: bool,
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
            missing: miss.missing.clone(),
            detail: miss.detail.clone(),
            filled_by: plan
                .link_for(miss.consumer, &miss.import)
                .map(|link| name(link.provider)),
            kept: plan
                .unfilled
                .iter()
                .any(|u| u.kept && u.consumer == miss.consumer && u.import == miss.import),
        })
        .collect()
}

/// The plugs that `plan` leaves out, each with the reasons why.
pub fn unused(
    types: &Types,
    inputs: &[Participant<'_>],
    plan: &Plan,
    wiring: &Resolved,
) -> Vec<UnusedPlug> {
    InputId::plugs(inputs.len())
        .filter(|&plug| !plan.is_used(plug))
        .map(|plug| explain_unused(types, inputs, plug, plan, wiring))
        .collect()
}

fn explain_unused(
    types: &Types,
    inputs: &[Participant<'_>],
    plug: InputId,
    plan: &Plan,
    wiring: &Resolved,
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
        if !wiring.offers(plug, export) {
            for &(consumer, import) in &imports {
                if names::matches(export, import) {
                    reasons.push(Reason::NotOffered {
                        export: export.clone(),
                        consumer: name(consumer),
                        import: import.clone(),
                        offered: wiring.offers[plug.index()].clone().unwrap_or_default(),
                    });
                }
            }
            continue;
        }
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
                                because: Preference::of(link, export),
                            });
                        }
                    } else if plan
                        .unfilled
                        .iter()
                        .any(|u| u.kept && u.consumer == consumer && &u.import == import)
                    {
                        reasons.push(Reason::KeptForHost {
                            export: export.clone(),
                            consumer: name(consumer),
                            import: import.clone(),
                        });
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
            kept,
            ..
        } = self;
        write!(
            f,
            "the export `{export}` of plug `{plug}` matches the import `{import}` of \
             `{consumer}` by name, but not by type: {detail}. "
        )?;
        match filled_by {
            Some(by) => write!(f, "`{by}` fills the import instead"),
            None if *kept => write!(f, "The import is kept for the host (--host)"),
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
                because,
            } => write!(
                f,
                "its export `{export}` would fit the import `{import}` of `{consumer}`, but \
                 `{by}` fills it: {because}"
            ),
            Reason::NotOffered {
                export,
                consumer,
                import,
                offered,
            } => write!(
                f,
                "its export `{export}` would fit the import `{import}` of `{consumer}`, but the \
                 plug offers only {} (`#EXPORT`)",
                offered
                    .iter()
                    .map(|o| format!("`{o}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Reason::KeptForHost {
                export,
                consumer,
                import,
            } => write!(
                f,
                "its export `{export}` would fit the import `{import}` of `{consumer}`, which \
                 is kept for the host (--host)"
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
