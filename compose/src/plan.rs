//! Deciding which export of which plug fills which import, before any graph is built.
//!
//! The plan is plain data: the report, the `--json` output and the explanations of failures
//! (`explain`) are all views of it, so that no later step has to guess what was decided here.

use crate::explain::difference;
use crate::names;
use crate::wiring::{Resolved, WiringError};
use indexmap::IndexMap;
use serde::Serialize;
use std::collections::HashSet;
use std::fmt;
use wac_graph::types::{ItemKind, SubtypeChecker, Types, WorldId};

/// One input as the planner sees it: a display name and its component type.
#[derive(Clone, Copy, Debug)]
pub struct Participant<'a> {
    /// The name messages show for the input.
    pub name: &'a str,
    /// The input's component type, in the [`Types`] arena handed to [`plan`].
    pub world: WorldId,
}

/// Which input, by its position in the participants handed to [`plan`]: the socket first,
/// then the plugs in command-line order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InputId(usize);

impl InputId {
    /// The socket: the input whose imports are filled first and whose exports are the output's.
    pub const SOCKET: InputId = InputId(0);

    /// The position of this input among the participants.
    pub fn index(self) -> usize {
        self.0
    }

    /// The plugs among `count` participants, in command-line order.
    pub fn plugs(count: usize) -> impl Iterator<Item = InputId> {
        (1..count).map(InputId)
    }

    /// Whether this is the socket.
    pub fn is_socket(self) -> bool {
        self == Self::SOCKET
    }

    /// The plug at position `n` (from 0) among the plugs.
    pub fn plug(n: usize) -> InputId {
        InputId(n + 1)
    }
}

/// The rule that chose the export filling an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The export has the import's exact name.
    ExactName,
    /// The export's name is on the import's semver track (the highest version there won).
    SemverCompatible,
    /// The caller wired it (`--wire`).
    Wire,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::ExactName => "exact name",
            Rule::SemverCompatible => "semver-compatible",
            Rule::Wire => "--wire",
        })
    }
}

/// An import of one input filled by an export of another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The input whose import is filled.
    pub consumer: InputId,
    /// The import's name, as the consumer spells it.
    pub import: String,
    /// The plug that fills it.
    pub provider: InputId,
    /// The export that fills it, as the provider spells it (on the import's semver track).
    pub export: String,
    /// Why this export.
    pub rule: Rule,
}

/// An import no plug filled, left for the host to provide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfilled {
    /// The input that imports it.
    pub consumer: InputId,
    /// The import's name, as the consumer spells it.
    pub import: String,
    /// Whether the caller kept it for the host on purpose.
    pub kept: bool,
    /// The plug that would have filled it, had it not been kept.
    pub could_fill: Option<InputId>,
}

/// An export that matches an import by name (on its semver track) but not by type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Miss {
    /// The plug with the export.
    pub provider: InputId,
    /// The export's name.
    pub export: String,
    /// The input with the import.
    pub consumer: InputId,
    /// The import's name.
    pub import: String,
    /// The functions (or other items) the import uses that the export lacks.
    pub missing: Vec<String>,
    /// What differs, naming every missing or differing function.
    pub detail: String,
}

/// What [`plan`] decided.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Links in the order they were decided: breadth-first from the socket.
    pub links: Vec<Link>,
    /// Imports of instantiated inputs that nothing filled.
    pub unfilled: Vec<Unfilled>,
    /// Every pair of an export and an import of an instantiated input that match by name but
    /// not by type, in the order they were checked.
    pub misses: Vec<Miss>,
    /// Inputs that end up instantiated, in the order they were reached: the socket first, then
    /// every plug some link reaches.
    pub used: Vec<InputId>,
}

impl Plan {
    /// The link that fills `import` of `consumer`, if any did.
    pub fn link_for(&self, consumer: InputId, import: &str) -> Option<&Link> {
        self.links
            .iter()
            .find(|l| l.consumer == consumer && l.import == import)
    }

    /// Whether `input` is instantiated.
    pub fn is_used(&self, input: InputId) -> bool {
        self.used.contains(&input)
    }

    /// The instantiated inputs, each after every plug it links to: the order in which a WAC
    /// document must bind them, and the one the graph is built in.
    pub fn instantiation_order(&self) -> Vec<InputId> {
        fn visit(
            plan: &Plan,
            input: InputId,
            placed: &mut HashSet<InputId>,
            order: &mut Vec<InputId>,
        ) {
            if !placed.insert(input) {
                return;
            }
            for link in plan.links.iter().filter(|l| l.consumer == input) {
                visit(plan, link.provider, placed, order);
            }
            order.push(input);
        }
        let mut placed = HashSet::new();
        let mut order = Vec::with_capacity(self.used.len());
        for &input in &self.used {
            visit(self, input, &mut placed, &mut order);
        }
        order
    }
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Every plug that could fill an import already depends on its importer.
    #[error(
        "cannot fill import `{import}` of `{consumer}`: every plug that exports it already \
         depends on `{consumer}`, so linking would form a cycle ({chain}). Component \
         instances must form a DAG: add a plug that provides `{import}` without importing \
         it, or drop one of the plugs in the cycle"
    )]
    Cycle {
        /// The input whose import could not be filled.
        consumer: String,
        /// The import.
        import: String,
        /// The inputs of the cycle, joined by arrows.
        chain: String,
    },
    /// The caller's wiring does not fit (boxed: it is the largest error).
    #[error(transparent)]
    Wiring(Box<WiringError>),
}

impl From<WiringError> for PlanError {
    fn from(e: WiringError) -> Self {
        PlanError::Wiring(Box::new(e))
    }
}

/// One export that fits an import, while the planner weighs the candidates.
struct Candidate {
    provider: InputId,
    export: String,
    exact: bool,
    version: Option<semver::Version>,
}

impl Candidate {
    /// Whether this candidate beats `other`: an exact name beats a semver-compatible one, a
    /// higher version beats a lower one, and of equal ones the earlier plug (`other`, since
    /// candidates come in command-line order) stays.
    fn beats(&self, other: &Candidate) -> bool {
        (self.exact, &self.version) > (other.exact, &other.version)
    }
}

/// Fills imports breadth-first from the socket (the first participant) and the plugs whose
/// exports the caller re-exports. An import the caller wired takes that plug's export; one the
/// caller keeps for the host stays unfilled. Any other takes, among the plugs whose export
/// matches by name (exactly, else on the same semver track, see [`names::lookup`]) and type
/// (subtype check), an exact name first, then the highest version, then the earliest plug on
/// the command line. A plug never fills its own imports, and a candidate that would close a
/// cycle is skipped, which is what lets `app --plug middleware --plug logger` chain
/// app → middleware → logger.
///
/// Every plug with an export of the import's name is checked, also after one was chosen, so
/// that [`Plan::misses`] holds every type mismatch of an instantiated input's imports.
pub fn plan(
    types: &Types,
    inputs: &[Participant<'_>],
    wiring: &Resolved,
) -> Result<Plan, PlanError> {
    let name = |id: InputId| inputs[id.index()].name.to_string();
    let mut cache = Default::default();
    let mut plan = Plan {
        used: vec![InputId::SOCKET],
        ..Plan::default()
    };
    let mut queued: HashSet<InputId> = HashSet::from([InputId::SOCKET]);
    for (plug, _) in &wiring.exports {
        if queued.insert(*plug) {
            plan.used.push(*plug);
        }
    }
    let mut next = 0;
    while next < plan.used.len() {
        let consumer = plan.used[next];
        next += 1;
        let world = &types[inputs[consumer.0].world];
        for (import, import_kind) in &world.imports {
            if let Some(wire) = wiring.wire_for(consumer, import) {
                let provider = wire.provider;
                let export_kind = types[inputs[provider.0].world].exports[&wire.export];
                let mut checker = SubtypeChecker::new(&mut cache);
                if checker
                    .is_subtype(export_kind, types, *import_kind, types)
                    .is_err()
                {
                    let diff = difference(types, export_kind, *import_kind);
                    return Err(WiringError::WireMismatch {
                        consumer: name(consumer),
                        import: import.clone(),
                        provider: name(provider),
                        export: wire.export.clone(),
                        missing: diff.missing.clone(),
                        detail: with_versions(&diff, &wire.export, import),
                    }
                    .into());
                }
                if let Some(path) = depends_on(&plan.links, provider, consumer) {
                    return Err(cycle(inputs, consumer, import, &path));
                }
                plan.links.push(Link {
                    consumer,
                    import: import.clone(),
                    provider,
                    export: wire.export.clone(),
                    rule: Rule::Wire,
                });
                if queued.insert(provider) {
                    plan.used.push(provider);
                }
                continue;
            }
            let mut cyclic = Vec::new();
            let mut chosen: Option<Candidate> = None;
            for provider in InputId::plugs(inputs.len()) {
                if provider == consumer {
                    continue;
                }
                let all = &types[inputs[provider.0].world].exports;
                let restricted: IndexMap<String, ItemKind>;
                let exports = if wiring.restricts(provider) {
                    restricted = all
                        .iter()
                        .filter(|(e, _)| wiring.offers(provider, e))
                        .map(|(e, k)| (e.clone(), *k))
                        .collect();
                    &restricted
                } else {
                    all
                };
                let Some((export, export_kind)) = names::lookup(exports, import) else {
                    continue;
                };
                let mut checker = SubtypeChecker::new(&mut cache);
                if checker
                    .is_subtype(*export_kind, types, *import_kind, types)
                    .is_err()
                {
                    let diff = difference(types, *export_kind, *import_kind);
                    plan.misses.push(Miss {
                        provider,
                        export: export.clone(),
                        consumer,
                        import: import.clone(),
                        missing: diff.missing.clone(),
                        detail: with_versions(&diff, export, import),
                    });
                    continue;
                }
                let candidate = Candidate {
                    provider,
                    exact: export == import,
                    version: names::parsed_version(export),
                    export: export.clone(),
                };
                if chosen.as_ref().is_some_and(|c| !candidate.beats(c)) {
                    continue;
                }
                if let Some(path) = depends_on(&plan.links, provider, consumer) {
                    cyclic.push(path);
                    continue;
                }
                chosen = Some(candidate);
            }
            if wiring.keeps(import) {
                plan.unfilled.push(Unfilled {
                    consumer,
                    import: import.clone(),
                    kept: true,
                    could_fill: chosen.map(|c| c.provider),
                });
                continue;
            }
            match chosen {
                Some(c) => {
                    plan.links.push(Link {
                        consumer,
                        import: import.clone(),
                        provider: c.provider,
                        rule: if c.exact {
                            Rule::ExactName
                        } else {
                            Rule::SemverCompatible
                        },
                        export: c.export,
                    });
                    if queued.insert(c.provider) {
                        plan.used.push(c.provider);
                    }
                }
                None if !cyclic.is_empty() => {
                    return Err(cycle(inputs, consumer, import, &cyclic[0]));
                }
                None => plan.unfilled.push(Unfilled {
                    consumer,
                    import: import.clone(),
                    kept: false,
                    could_fill: None,
                }),
            }
        }
    }
    if let Some(wire) = wiring.wires.iter().find(|w| !plan.is_used(w.consumer)) {
        return Err(WiringError::Unreached {
            consumer: name(wire.consumer),
            import: wire.import.clone(),
        }
        .into());
    }
    Ok(plan)
}

/// The difference, and when the export lacks items and is older than the import, the two
/// versions: the likely cause is a plug built against the older release.
fn with_versions(diff: &crate::explain::Difference, export: &str, import: &str) -> String {
    match (names::parsed_version(export), names::parsed_version(import)) {
        (Some(e), Some(i)) if !diff.missing.is_empty() && e < i => {
            format!("{diff} (the plug implements {e}, the import asks for {i})")
        }
        _ => diff.to_string(),
    }
}

fn cycle(
    inputs: &[Participant<'_>],
    consumer: InputId,
    import: &str,
    path: &[InputId],
) -> PlanError {
    let name = |id: InputId| inputs[id.0].name;
    let mut chain = vec![name(consumer)];
    chain.extend(path.iter().map(|&id| name(id)));
    PlanError::Cycle {
        consumer: name(consumer).to_string(),
        import: import.to_string(),
        chain: chain.join(" → "),
    }
}

/// If `from` already reaches `to` through decided links, the path of inputs between them.
fn depends_on(links: &[Link], from: InputId, to: InputId) -> Option<Vec<InputId>> {
    let mut stack = vec![vec![from]];
    let mut seen = HashSet::new();
    while let Some(path) = stack.pop() {
        let last = *path.last().expect("paths are never empty");
        if last == to {
            return Some(path);
        }
        if !seen.insert(last) {
            continue;
        }
        for link in links.iter().filter(|l| l.consumer == last) {
            let mut next = path.clone();
            next.push(link.provider);
            stack.push(next);
        }
    }
    None
}
