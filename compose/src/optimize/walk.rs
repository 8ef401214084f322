//! Finding every core module and nested component, at every depth, with where it sits.
//!
//! Offsets are absolute in the input, so the rewrite pass, which parses the same bytes again,
//! finds each site by the start of its bytes.

use crate::input::ArtifactKind;
use crate::nesting::{Nesting, Walk};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ops::Range;
use wasmparser::Payload;

/// The input's components (scopes) and core modules.
pub(crate) struct Tree {
    /// Scope 0 is the input itself (for a core module input, there is none).
    pub scopes: Vec<Scope>,
    pub modules: Vec<ModuleSite>,
    /// Module and scope numbers by the start offset of their bytes.
    pub module_at: HashMap<usize, usize>,
    pub scope_at: HashMap<usize, usize>,
}

pub(crate) struct Scope {
    pub range: Range<usize>,
    pub parent: Option<usize>,
    /// Where it sits: the nesting from the input down to it.
    pub path: Vec<Nesting>,
    pub hash: [u8; 32],
}

pub(crate) struct ModuleSite {
    pub range: Range<usize>,
    pub scope: Option<usize>,
    pub path: Vec<Nesting>,
    /// From the input down to the module: each enclosing scope, and the start offset of the
    /// item of that scope (a module or component section) that holds the module.
    pub chain: Vec<(usize, usize)>,
    pub hash: [u8; 32],
}

impl ModuleSite {
    pub fn location(&self) -> String {
        location(&self.path)
    }
}

impl Scope {
    pub fn location(&self) -> String {
        location(&self.path)
    }
}

/// `core module 0 of component 1`, innermost first, as validation messages say it.
pub(crate) fn location(path: &[Nesting]) -> String {
    if path.is_empty() {
        return "the input".to_string();
    }
    path.iter()
        .rev()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" of ")
}

pub(crate) fn scan(
    bytes: &[u8],
    kind: ArtifactKind,
) -> Result<Tree, wasmparser::BinaryReaderError> {
    let mut tree = Tree {
        scopes: Vec::new(),
        modules: Vec::new(),
        module_at: HashMap::new(),
        scope_at: HashMap::new(),
    };
    if kind == ArtifactKind::CoreModule {
        tree.modules.push(ModuleSite {
            range: 0..bytes.len(),
            scope: None,
            path: Vec::new(),
            chain: Vec::new(),
            hash: Sha256::digest(bytes).into(),
        });
        tree.module_at.insert(0, 0);
        return Ok(tree);
    }
    tree.scopes.push(Scope {
        range: 0..bytes.len(),
        parent: None,
        path: Vec::new(),
        hash: [0; 32],
    });
    tree.scope_at.insert(0, 0);
    // Per scope, the chain from the input down to its parent; per frame of the walk, its scope.
    let mut chains: Vec<Vec<(usize, usize)>> = vec![Vec::new()];
    let mut scope_of: HashMap<usize, usize> = HashMap::from([(0, 0)]);
    let mut walk = Walk::new(bytes);
    while let Some(payload) = walk.next() {
        let (range, module) = match payload? {
            Payload::ModuleSection {
                unchecked_range, ..
            } => (unchecked_range, true),
            Payload::ComponentSection {
                unchecked_range, ..
            } => (unchecked_range, false),
            _ => continue,
        };
        let nest = walk.nest();
        let scope = scope_of[&nest.current()];
        let r = range.start as usize..range.end as usize;
        let mut path = tree.scopes[scope].path.clone();
        path.extend(nest.entering().cloned());
        let mut chain = chains[scope].clone();
        chain.push((scope, r.start));
        let hash = Sha256::digest(bytes.get(r.clone()).unwrap_or_default()).into();
        if module {
            tree.module_at.insert(r.start, tree.modules.len());
            tree.modules.push(ModuleSite {
                hash,
                range: r,
                scope: Some(scope),
                path,
                chain,
            });
            // Only components hold further modules and components.
            walk.skip_nested();
        } else {
            let child = tree.scopes.len();
            // The next frame the walk opens is this component's.
            scope_of.insert(nest.frames().len(), child);
            tree.scope_at.insert(r.start, child);
            tree.scopes.push(Scope {
                hash,
                range: r,
                parent: Some(scope),
                path,
            });
            chains.push(chain);
        }
    }
    Ok(tree)
}

/// The two index spaces that deduplication renumbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Space {
    Module,
    Component,
}

/// Which of the two spaces an alias adds an entry to, if either.
pub(crate) fn creates(alias: &wasmparser::ComponentAlias<'_>) -> Option<Space> {
    use wasmparser::{ComponentAlias, ComponentExternalKind, ComponentOuterAliasKind};
    match alias {
        ComponentAlias::InstanceExport { kind, .. } => match kind {
            ComponentExternalKind::Module => Some(Space::Module),
            ComponentExternalKind::Component => Some(Space::Component),
            _ => None,
        },
        ComponentAlias::Outer { kind, .. } => match kind {
            ComponentOuterAliasKind::CoreModule => Some(Space::Module),
            ComponentOuterAliasKind::Component => Some(Space::Component),
            _ => None,
        },
        ComponentAlias::CoreInstanceExport { .. } => None,
    }
}
