//! Deciding which copies of identical modules and components to drop.
//!
//! Core modules close over nothing, so identical bytes are the same module wherever they sit.
//! Each set of copies gets one definition in the innermost component that encloses them all,
//! placed just before the first copy; a copy in that component becomes a reference to it, and
//! a copy deeper down becomes an `alias outer` to it, which takes the same place in its own
//! component's module index space as the module it replaces.
//!
//! Nested components may alias their parent, so only identical siblings are merged: the same
//! bytes in the same parent mean the same thing.

use super::walk::Tree;
use super::{Duplicate, DuplicateKind};
use std::collections::HashMap;

pub(crate) struct DedupPlan {
    /// One site per distinct module, the first in file order: these are optimized.
    pub unique: Vec<usize>,
    /// What the rewrite emits for each module site.
    pub action: Vec<Action>,
    /// Sets of identical modules: each has one definition, inserted by the rewrite.
    pub groups: Vec<Group>,
    /// Per scope, the groups to define before the item that starts at an offset.
    pub inserts: HashMap<usize, Vec<(usize, usize)>>,
    /// Scopes dropped for an identical earlier sibling, and that sibling.
    pub dropped_scopes: HashMap<usize, usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// The only copy: emit the optimized module of `unique[n]` here.
    Emit(usize),
    /// A copy in the component that holds its group's definition: emit nothing.
    Local(usize),
    /// A copy deeper down: alias the group's definition, `count` components out.
    Outer { count: u32, group: usize },
    /// Inside a dropped component: never emitted.
    Skip,
}

pub(crate) struct Group {
    /// Index into `DedupPlan::unique` of the module to define.
    pub unique: usize,
    pub sites: Vec<usize>,
}

pub(crate) fn plan(tree: &Tree) -> DedupPlan {
    // Scopes are numbered in file order with parents first, so one pass sees every earlier
    // sibling and every parent's fate before its children.
    let mut dropped_scopes = HashMap::new();
    let mut dead = vec![false; tree.scopes.len()];
    let mut first_of: HashMap<(usize, [u8; 32]), usize> = HashMap::new();
    for (i, scope) in tree.scopes.iter().enumerate() {
        let Some(parent) = scope.parent else { continue };
        if dead[parent] {
            dead[i] = true;
            continue;
        }
        match first_of.get(&(parent, scope.hash)) {
            Some(&kept) => {
                dropped_scopes.insert(i, kept);
                dead[i] = true;
            }
            None => {
                first_of.insert((parent, scope.hash), i);
            }
        }
    }

    let mut by_hash: HashMap<[u8; 32], Vec<usize>> = HashMap::new();
    let mut order = Vec::new();
    for (i, site) in tree.modules.iter().enumerate() {
        if site.scope.is_some_and(|s| dead[s]) {
            continue;
        }
        let sites = by_hash.entry(site.hash).or_default();
        if sites.is_empty() {
            order.push(site.hash);
        }
        sites.push(i);
    }

    let mut plan = DedupPlan {
        unique: Vec::new(),
        action: vec![Action::Skip; tree.modules.len()],
        groups: Vec::new(),
        inserts: HashMap::new(),
        dropped_scopes,
    };
    for hash in order {
        let sites = by_hash
            .remove(&hash)
            .expect("every hash in order has sites");
        let unique = plan.unique.len();
        plan.unique.push(sites[0]);
        if sites.len() == 1 {
            plan.action[sites[0]] = Action::Emit(unique);
            continue;
        }
        // The innermost scope enclosing every copy: the deepest level whose scope is the same
        // in every chain. Every chain starts at scope 0, the input.
        let chains: Vec<&[(usize, usize)]> =
            sites.iter().map(|&s| &tree.modules[s].chain[..]).collect();
        let shortest = chains.iter().map(|c| c.len()).min().unwrap_or(0);
        let depth = (0..shortest)
            .take_while(|&d| chains.iter().all(|c| c[d].0 == chains[0][d].0))
            .last()
            .unwrap_or(0);
        let scope = chains[0][depth].0;
        let group = plan.groups.len();
        plan.inserts
            .entry(scope)
            .or_default()
            .push((chains[0][depth].1, group));
        for &site in &sites {
            let site_depth = tree.modules[site].chain.len() - 1;
            plan.action[site] = if site_depth == depth {
                Action::Local(group)
            } else {
                Action::Outer {
                    count: (site_depth - depth) as u32,
                    group,
                }
            };
        }
        plan.groups.push(Group { unique, sites });
    }
    plan
}

impl DedupPlan {
    /// The dropped copies, for the report, in file order.
    pub fn duplicates(&self, tree: &Tree) -> Vec<Duplicate> {
        let mut out: Vec<(usize, Duplicate)> = Vec::new();
        for group in &self.groups {
            let first = &tree.modules[group.sites[0]];
            for &site in &group.sites[1..] {
                let copy = &tree.modules[site];
                out.push((
                    copy.range.start,
                    Duplicate {
                        kind: DuplicateKind::CoreModule,
                        location: copy.location(),
                        same_as: first.location(),
                        size: copy.range.len(),
                    },
                ));
            }
        }
        for (&dropped, &kept) in &self.dropped_scopes {
            let copy = &tree.scopes[dropped];
            out.push((
                copy.range.start,
                Duplicate {
                    kind: DuplicateKind::Component,
                    location: copy.location(),
                    same_as: tree.scopes[kept].location(),
                    size: copy.range.len(),
                },
            ));
        }
        out.sort_by_key(|(offset, _)| *offset);
        out.into_iter().map(|(_, d)| d).collect()
    }
}
