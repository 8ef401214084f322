//! Deciding which export of which plug fills which import, before any graph is built.
//!
//! The plan is plain data: the report, the `--json` output and the explanations of failures
//! are all views of it, so that no later step has to guess what was decided here.

use crate::explain::{self, unversioned, Miss};
use serde::Serialize;
use std::collections::HashSet;
use wac_graph::types::{are_semver_compatible, ItemKind, SubtypeChecker, Types, WorldId};

/// One input as the planner sees it: a display name and its component type.
pub struct Node<'a> {
    pub name: &'a str,
    pub world: WorldId,
}

/// An import of one input filled by an export of another.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Link {
    /// Index of the importing input (0 is the socket, 1.. the plugs in order).
    #[serde(skip)]
    pub consumer: usize,
    #[serde(rename = "consumer")]
    pub consumer_name: String,
    pub import: String,
    #[serde(skip)]
    pub provider: usize,
    #[serde(rename = "provider")]
    pub provider_name: String,
    pub export: String,
}

/// An import no plug filled, left for the host to provide.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Unfilled {
    #[serde(rename = "consumer")]
    pub consumer_name: String,
    pub import: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Links in the order they were decided: breadth-first from the socket.
    pub links: Vec<Link>,
    /// Imports of instantiated inputs that nothing filled.
    pub unfilled: Vec<Unfilled>,
    /// Plugs that filled nothing, each with the reasons why.
    pub unused: Vec<explain::UnusedPlug>,
}

impl Plan {
    /// Inputs that end up instantiated: the socket and every plug some link reaches.
    pub fn used(&self) -> impl Iterator<Item = usize> + '_ {
        let mut seen = vec![0usize];
        for link in &self.links {
            if !seen.contains(&link.provider) {
                seen.push(link.provider);
            }
        }
        seen.into_iter()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "cannot fill import `{import}` of `{consumer}`: every plug that exports it already \
         depends on `{consumer}`, so linking would form a cycle ({chain}). Component \
         instances must form a DAG: add a plug that provides `{import}` without importing \
         it, or drop one of the plugs in the cycle"
    )]
    Cycle {
        consumer: String,
        import: String,
        chain: String,
    },
}

/// Fills imports breadth-first from the socket (node 0). Each import takes the first plug,
/// in command-line order, whose export matches by name (exactly, else on the same semver
/// track) and type (subtype check). A plug never fills its own imports, and a candidate that
/// would close a cycle is skipped, which is what lets `app --plug middleware --plug logger`
/// chain app → middleware → logger.
pub fn plan(types: &Types, nodes: &[Node<'_>]) -> Result<Plan, PlanError> {
    let mut cache = Default::default();
    let mut links: Vec<Link> = Vec::new();
    let mut unfilled = Vec::new();
    let mut misses: Vec<Miss> = Vec::new();
    let mut queue = vec![0usize];
    let mut queued: HashSet<usize> = HashSet::from([0]);
    let mut next = 0;
    while next < queue.len() {
        let consumer = queue[next];
        next += 1;
        let world = &types[nodes[consumer].world];
        for (import, import_kind) in &world.imports {
            let mut cyclic = Vec::new();
            let mut chosen = None;
            for provider in 1..nodes.len() {
                if provider == consumer {
                    continue;
                }
                let exports = &types[nodes[provider].world].exports;
                let Some((export, export_kind)) = find_export(exports, import) else {
                    continue;
                };
                let mut checker = SubtypeChecker::new(&mut cache);
                if let Err(e) = checker.is_subtype(*export_kind, types, *import_kind, types) {
                    misses.push(Miss::type_mismatch(provider, consumer, export, import, &e));
                    continue;
                }
                if let Some(path) = depends_on(&links, provider, consumer) {
                    cyclic.push(path);
                    continue;
                }
                chosen = Some((provider, export.clone()));
                break;
            }
            match chosen {
                Some((provider, export)) => {
                    links.push(Link {
                        consumer,
                        consumer_name: nodes[consumer].name.to_string(),
                        import: import.clone(),
                        provider,
                        provider_name: nodes[provider].name.to_string(),
                        export,
                    });
                    if queued.insert(provider) {
                        queue.push(provider);
                    }
                }
                None if !cyclic.is_empty() => {
                    let mut chain = vec![nodes[consumer].name];
                    chain.extend(cyclic[0].iter().map(|&i| nodes[i].name));
                    return Err(PlanError::Cycle {
                        consumer: nodes[consumer].name.to_string(),
                        import: import.clone(),
                        chain: chain.join(" → "),
                    });
                }
                None => unfilled.push(Unfilled {
                    consumer_name: nodes[consumer].name.to_string(),
                    import: import.clone(),
                }),
            }
        }
    }
    let unused = (1..nodes.len())
        .filter(|i| !queued.contains(i))
        .map(|plug| explain::explain_unused(types, nodes, plug, &links, &queue, &misses))
        .collect();
    Ok(Plan {
        links,
        unfilled,
        unused,
    })
}

/// The export that `wac plug` would pick for `import`: the exact name, else the first name on
/// the same semver track.
pub fn find_export<'m>(
    exports: &'m indexmap::IndexMap<String, ItemKind>,
    import: &str,
) -> Option<(&'m String, &'m ItemKind)> {
    // Semver-compatible names share everything before the `@`; comparing that first skips
    // parsing two versions for every export of every plug.
    exports.get_key_value(import).or_else(|| {
        exports.iter().find(|(e, _)| {
            unversioned(e) == unversioned(import) && are_semver_compatible(e, import)
        })
    })
}

/// If `from` already reaches `to` through decided links, the path of inputs between them.
fn depends_on(links: &[Link], from: usize, to: usize) -> Option<Vec<usize>> {
    let mut stack = vec![vec![from]];
    let mut seen = HashSet::new();
    while let Some(path) = stack.pop() {
        let last = *path.last().unwrap();
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
