//! Deciding which export of which plug fills which import, before any graph is built.
//!
//! The plan is plain data: the report, the `--json` output and the explanations of failures
//! (`explain`) are all views of it, so that no later step has to guess what was decided here.

use crate::names;
use std::collections::HashSet;
use wac_graph::types::{SubtypeChecker, Types, WorldId};

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
}

/// An import no plug filled, left for the host to provide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfilled {
    /// The input that imports it.
    pub consumer: InputId,
    /// The import's name, as the consumer spells it.
    pub import: String,
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
    /// What differs, from the subtype check.
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
}

/// Fills imports breadth-first from the socket (the first participant). Each import takes the
/// first plug, in command-line order, whose export matches by name (exactly, else on the same
/// semver track, see [`names::lookup`]) and type (subtype check). A plug never fills its own
/// imports, and a candidate that would close a cycle is skipped, which is what lets
/// `app --plug middleware --plug logger` chain app → middleware → logger.
///
/// Every plug with an export of the import's name is checked, also after one was chosen, so
/// that [`Plan::misses`] holds every type mismatch of an instantiated input's imports.
pub fn plan(types: &Types, inputs: &[Participant<'_>]) -> Result<Plan, PlanError> {
    let mut cache = Default::default();
    let mut plan = Plan {
        used: vec![InputId::SOCKET],
        ..Plan::default()
    };
    let mut queued: HashSet<InputId> = HashSet::from([InputId::SOCKET]);
    let mut next = 0;
    while next < plan.used.len() {
        let consumer = plan.used[next];
        next += 1;
        let world = &types[inputs[consumer.0].world];
        for (import, import_kind) in &world.imports {
            let mut cyclic = Vec::new();
            let mut chosen = None;
            for provider in InputId::plugs(inputs.len()) {
                if provider == consumer {
                    continue;
                }
                let exports = &types[inputs[provider.0].world].exports;
                let Some((export, export_kind)) = names::lookup(exports, import) else {
                    continue;
                };
                let mut checker = SubtypeChecker::new(&mut cache);
                if let Err(e) = checker.is_subtype(*export_kind, types, *import_kind, types) {
                    plan.misses.push(Miss {
                        provider,
                        export: export.clone(),
                        consumer,
                        import: import.clone(),
                        detail: format!("{e:#}"),
                    });
                    continue;
                }
                if chosen.is_some() {
                    continue;
                }
                if let Some(path) = depends_on(&plan.links, provider, consumer) {
                    cyclic.push(path);
                    continue;
                }
                chosen = Some((provider, export.clone()));
            }
            match chosen {
                Some((provider, export)) => {
                    plan.links.push(Link {
                        consumer,
                        import: import.clone(),
                        provider,
                        export,
                    });
                    if queued.insert(provider) {
                        plan.used.push(provider);
                    }
                }
                None if !cyclic.is_empty() => {
                    let name = |id: InputId| inputs[id.0].name;
                    let mut chain = vec![name(consumer)];
                    chain.extend(cyclic[0].iter().map(|&id| name(id)));
                    return Err(PlanError::Cycle {
                        consumer: name(consumer).to_string(),
                        import: import.clone(),
                        chain: chain.join(" → "),
                    });
                }
                None => plan.unfilled.push(Unfilled {
                    consumer,
                    import: import.clone(),
                }),
            }
        }
    }
    Ok(plan)
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
