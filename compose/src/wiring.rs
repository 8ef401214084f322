//! The wiring a caller chooses instead of, or beside, automatic plugging: which exports a plug
//! offers, which plug fills which import, what stays with the host, and what the composition
//! re-exports. Inputs are named by position ([`InputId`]); interfaces by selectors that
//! [`names::select`] resolves against the inputs' types, so that a short name (`logger`) works
//! wherever a full one does.

use crate::names::{self, Selection};
use crate::plan::{InputId, Participant};
use indexmap::IndexMap;
use serde::Serialize;
use wac_graph::types::{ItemKind, Types};

/// What the caller decided. The default leaves everything to automatic plugging.
#[derive(Clone, Debug, Default)]
pub struct Wiring {
    /// Plugs that offer only the exports named here (`--plug FILE#EXPORT`); a plug with no
    /// entry offers all of its exports.
    pub offers: Vec<(InputId, String)>,
    /// Imports filled by a plug the caller names, whatever automatic plugging would pick.
    pub wires: Vec<Wire>,
    /// Imports kept for the host even when a plug could fill them (matched on their semver
    /// track).
    pub host: Vec<String>,
    /// Exports of plugs that the composition exports too, beside the socket's.
    pub exports: Vec<(InputId, String)>,
    /// Which imports the composition may leave for the host.
    pub host_imports: HostImports,
}

/// One import filled on the caller's word (`--wire CONSUMER:IMPORT=PLUG[#EXPORT]`).
#[derive(Clone, Debug)]
pub struct Wire {
    /// The input whose import is filled.
    pub consumer: InputId,
    /// A selector for the import.
    pub import: String,
    /// The plug that fills it.
    pub provider: InputId,
    /// A selector for the export; without one, the export that matches the import by name.
    pub export: Option<String>,
}

/// Which imports may be left for the host.
#[derive(Clone, Debug, Default)]
pub enum HostImports {
    /// Any import.
    #[default]
    Any,
    /// Only those that one of these names allows (see [`names::allows`]), and those kept on
    /// purpose with [`Wiring::host`]. An empty list is the closed world: nothing.
    Only(Vec<String>),
}

/// A wire, with its selectors resolved to the names the inputs use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedWire {
    /// The input whose import is filled.
    pub consumer: InputId,
    /// The import, as the consumer spells it.
    pub import: String,
    /// The plug that fills it.
    pub provider: InputId,
    /// The export, as the plug spells it.
    pub export: String,
}

/// [`Wiring`] with every selector resolved against the inputs.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    /// Per input, the exports it offers to automatic plugging, when it offers only some.
    pub offers: Vec<Option<Vec<String>>>,
    /// The wires.
    pub wires: Vec<ResolvedWire>,
    /// Imports kept for the host.
    pub host: Vec<String>,
    /// Re-exported plug exports, by their names in the plugs.
    pub exports: Vec<(InputId, String)>,
}

impl Resolved {
    /// Whether `input` offers `export` to automatic plugging.
    pub fn offers(&self, input: InputId, export: &str) -> bool {
        match self.offers.get(input.index()) {
            Some(Some(offered)) => offered.iter().any(|e| e == export),
            _ => true,
        }
    }

    /// Whether `input` offers only some of its exports.
    pub fn restricts(&self, input: InputId) -> bool {
        matches!(self.offers.get(input.index()), Some(Some(_)))
    }

    /// The wire for `import` of `consumer`, if the caller gave one.
    pub fn wire_for(&self, consumer: InputId, import: &str) -> Option<&ResolvedWire> {
        self.wires
            .iter()
            .find(|w| w.consumer == consumer && w.import == import)
    }

    /// Whether the caller keeps `import` for the host.
    pub fn keeps(&self, import: &str) -> bool {
        self.host.iter().any(|h| names::matches(h, import))
    }
}

/// What a selector was meant to name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// An export of the input.
    Export,
    /// An import of the input.
    Import,
}

impl Side {
    fn plural(self) -> &'static str {
        match self {
            Side::Export => "exports",
            Side::Import => "imports",
        }
    }
}

/// The wiring does not fit the inputs.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// A selector names nothing.
    #[error(
        "`{input}` has no {what} `{selector}`; it {plural}: {}",
        list(.names),
        what = side_name(*.side),
        plural = .side.plural()
    )]
    Absent {
        /// The input's name.
        input: String,
        /// Export or import.
        side: Side,
        /// What the caller wrote.
        selector: String,
        /// What the input has.
        names: Vec<String>,
    },
    /// A selector names more than one interface.
    #[error(
        "`{selector}` names more than one {what} of `{input}`: {}. Write the full name",
        list(.candidates),
        what = side_name(*.side)
    )]
    Ambiguous {
        /// The input's name.
        input: String,
        /// Export or import.
        side: Side,
        /// What the caller wrote.
        selector: String,
        /// The names it could mean.
        candidates: Vec<String>,
    },
    /// A wire without `#EXPORT` whose plug exports nothing of the import's name.
    #[error(
        "`{provider}` exports nothing that matches the import `{import}` of `{consumer}`; it \
         exports: {}. Name the export with `#EXPORT`",
        list(.exports)
    )]
    NoMatchingExport {
        /// The consumer's name.
        consumer: String,
        /// The import.
        import: String,
        /// The plug's name.
        provider: String,
        /// What the plug exports.
        exports: Vec<String>,
    },
    /// A wire from an input to itself.
    #[error("`{input}` cannot fill its own import `{import}`; wire it to another plug")]
    SelfWire {
        /// The input's name.
        input: String,
        /// The import.
        import: String,
    },
    /// Two wires for one import.
    #[error("the import `{import}` of `{consumer}` is wired twice; keep one `--wire` for it")]
    WiredTwice {
        /// The consumer's name.
        consumer: String,
        /// The import.
        import: String,
    },
    /// An import both wired and kept for the host.
    #[error(
        "the import `{import}` of `{consumer}` is both wired to `{provider}` and kept for the \
         host; drop one of the two"
    )]
    WiredAndKept {
        /// The consumer's name.
        consumer: String,
        /// The import.
        import: String,
        /// The plug it is wired to.
        provider: String,
    },
    /// A wired export does not fit the import.
    #[error(
        "cannot wire the import `{import}` of `{consumer}` to the export `{export}` of \
         `{provider}`: {detail}"
    )]
    WireMismatch {
        /// The consumer's name.
        consumer: String,
        /// The import.
        import: String,
        /// The plug's name.
        provider: String,
        /// The export.
        export: String,
        /// The functions the import uses that the export lacks.
        missing: Vec<String>,
        /// What differs.
        detail: String,
    },
    /// A wire for an input that nothing instantiates.
    #[error(
        "`--wire` fills the import `{import}` of `{consumer}`, but nothing in the composition \
         uses `{consumer}`. Wire an import of another input to it, or drop the wire"
    )]
    Unreached {
        /// The consumer's name.
        consumer: String,
        /// The import.
        import: String,
    },
    /// A re-export whose name the composition already exports.
    #[error(
        "cannot export `{export}` of `{plug}`: the composition already exports `{export}` \
         (from `{by}`)"
    )]
    ExportTaken {
        /// The plug's name.
        plug: String,
        /// The export.
        export: String,
        /// The input whose export has that name.
        by: String,
    },
    /// Imports left for the host that the caller did not allow.
    #[error("{}", denied(.0))]
    HostImportsDenied(Vec<DeniedImport>),
}

/// An import left for the host that the caller did not allow.
#[derive(Clone, Debug, Serialize)]
pub struct DeniedImport {
    /// The import.
    pub import: String,
    /// The inputs that import it.
    pub wanted_by: Vec<String>,
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Export => "export",
        Side::Import => "import",
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "nothing".to_string();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn denied(imports: &[DeniedImport]) -> String {
    let mut msg = match imports.len() {
        1 => {
            "1 import would be left for the host, which the closed-world check forbids:".to_string()
        }
        n => {
            format!("{n} imports would be left for the host, which the closed-world check forbids:")
        }
    };
    for d in imports {
        msg += &format!("\n    {}  [{}]", d.import, d.wanted_by.join(", "));
    }
    msg += "\n  Add a plug that exports it, keep it with `--allow-host-import IFACE`, or drop \
            `--deny-host-imports`";
    msg
}

/// Resolves every selector of `wiring` against the inputs' types. (The error is large, but it
/// is boxed as soon as it reaches [`crate::ComposeError`], and this runs once per composition.)
#[allow(clippy::result_large_err)]
pub fn resolve(
    types: &Types,
    inputs: &[Participant<'_>],
    wiring: &Wiring,
) -> Result<Resolved, WiringError> {
    let exports_of = |id: InputId| types[inputs[id.index()].world].exports.keys();
    let imports_of = |id: InputId| types[inputs[id.index()].world].imports.keys();
    let name = |id: InputId| inputs[id.index()].name.to_string();
    let pick = |id: InputId, side: Side, selector: &str| -> Result<String, WiringError> {
        let found = match side {
            Side::Export => names::select(exports_of(id), selector),
            Side::Import => names::select(imports_of(id), selector),
        };
        found.cloned().map_err(|e| match e {
            Selection::Absent => WiringError::Absent {
                input: name(id),
                side,
                selector: selector.to_string(),
                names: match side {
                    Side::Export => exports_of(id).cloned().collect(),
                    Side::Import => imports_of(id).cloned().collect(),
                },
            },
            Selection::Ambiguous(candidates) => WiringError::Ambiguous {
                input: name(id),
                side,
                selector: selector.to_string(),
                candidates,
            },
        })
    };

    let mut resolved = Resolved {
        offers: vec![None; inputs.len()],
        ..Resolved::default()
    };
    for (plug, selector) in &wiring.offers {
        let export = pick(*plug, Side::Export, selector)?;
        resolved.offers[plug.index()]
            .get_or_insert_with(Vec::new)
            .push(export);
    }
    for wire in &wiring.wires {
        let import = pick(wire.consumer, Side::Import, &wire.import)?;
        if wire.consumer == wire.provider {
            return Err(WiringError::SelfWire {
                input: name(wire.consumer),
                import,
            });
        }
        let export = match &wire.export {
            Some(selector) => pick(wire.provider, Side::Export, selector)?,
            None => {
                let world = &types[inputs[wire.provider.index()].world];
                let offered: IndexMap<String, ItemKind> = world
                    .exports
                    .iter()
                    .filter(|(e, _)| resolved.offers(wire.provider, e))
                    .map(|(e, k)| (e.clone(), *k))
                    .collect();
                match names::lookup(&offered, &import) {
                    Some((export, _)) => export.clone(),
                    None => {
                        return Err(WiringError::NoMatchingExport {
                            consumer: name(wire.consumer),
                            import,
                            provider: name(wire.provider),
                            exports: offered.keys().cloned().collect(),
                        })
                    }
                }
            }
        };
        if resolved.wire_for(wire.consumer, &import).is_some() {
            return Err(WiringError::WiredTwice {
                consumer: name(wire.consumer),
                import,
            });
        }
        if wiring.host.iter().any(|h| names::matches(h, &import)) {
            return Err(WiringError::WiredAndKept {
                consumer: name(wire.consumer),
                import,
                provider: name(wire.provider),
            });
        }
        resolved.wires.push(ResolvedWire {
            consumer: wire.consumer,
            import,
            provider: wire.provider,
            export,
        });
    }
    resolved.host = wiring.host.clone();
    for (plug, selector) in &wiring.exports {
        let export = pick(*plug, Side::Export, selector)?;
        resolved.exports.push((*plug, export));
    }
    Ok(resolved)
}
