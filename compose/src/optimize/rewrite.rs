//! Re-encoding the component around the optimized modules, with `wasm-encoder`'s reencoder.
//!
//! Every component-level section is re-encoded, so that indices of core modules and nested
//! components can be renumbered where deduplication dropped or moved them. Each scope keeps a
//! map from its old module and component indices to the new ones; references to an enclosing
//! scope (`alias outer`) look the index up in that scope's map.

use super::binaryen::Outcome;
use super::dedup::{Action, DedupPlan};
use super::strip::{keeps, producers_with_wtool, section_size, Tally};
use super::walk::{creates, Space, Tree};
use super::OptimizeOptions;
use std::convert::Infallible;
use wasm_encoder::reencode::{component_utils, Reencode, ReencodeComponent};
use wasm_encoder::{
    Alias, Component, ComponentAliasSection, ComponentOuterAliasKind, ComponentSectionId,
    NestedComponentSection, RawSection,
};
use wasmparser::{Chunk, Parser, Payload};

pub(crate) fn rewrite(
    bytes: &[u8],
    tree: &Tree,
    plan: &DedupPlan,
    outcomes: &[Outcome],
    options: &OptimizeOptions,
    stripped: &mut Tally,
) -> Result<Vec<u8>, String> {
    let mut rewriter = Rewriter {
        tree,
        plan,
        outcomes,
        options,
        stripped,
        frames: Vec::new(),
        group_index: vec![None; plan.groups.len()],
        scope_index: vec![None; tree.scopes.len()],
    };
    let mut out = Component::new();
    rewriter.component(&mut out, bytes, 0)?;
    Ok(out.finish())
}

struct Rewriter<'a> {
    tree: &'a Tree,
    plan: &'a DedupPlan,
    outcomes: &'a [Outcome],
    options: &'a OptimizeOptions,
    stripped: &'a mut Tally,
    /// One per open component, innermost last.
    frames: Vec<Frame>,
    /// The new index of each group's definition, in the scope that holds it.
    group_index: Vec<Option<u32>>,
    /// The new index of each emitted scope, in its parent.
    scope_index: Vec<Option<u32>>,
}

#[derive(Default)]
struct Frame {
    /// Old index → new index.
    modules: Vec<u32>,
    components: Vec<u32>,
    /// Old indices whose entry was dropped (a reference to an earlier one now).
    dropped_modules: Vec<bool>,
    dropped_components: Vec<bool>,
    next_module: u32,
    next_component: u32,
}

impl Frame {
    fn push(&mut self, space: Space) {
        match space {
            Space::Module => {
                self.modules.push(self.next_module);
                self.dropped_modules.push(false);
                self.next_module += 1;
            }
            Space::Component => {
                self.components.push(self.next_component);
                self.dropped_components.push(false);
                self.next_component += 1;
            }
        }
    }
}

impl Rewriter<'_> {
    fn frame(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("inside a component")
    }

    /// Re-encodes scope `scope` (whose bytes are `whole[range]`) into `out`.
    fn component(&mut self, out: &mut Component, whole: &[u8], scope: usize) -> Result<(), String> {
        let range = self.tree.scopes[scope].range.clone();
        self.frames.push(Frame::default());
        let mut parser = Parser::new(range.start as u64);
        let mut offset = range.start;
        let top = scope == 0;
        let mut producers_written = false;
        while offset < range.end {
            let (consumed, payload) = match parser.parse(&whole[offset..range.end], true) {
                Ok(Chunk::Parsed { consumed, payload }) => (consumed, payload),
                Ok(Chunk::NeedMoreData(_)) => return Err(format!("truncated at {offset:#x}")),
                Err(e) => return Err(e.to_string()),
            };
            offset += consumed;
            match payload {
                Payload::ModuleSection {
                    unchecked_range, ..
                } => {
                    let start = unchecked_range.start as usize;
                    offset = unchecked_range.end as usize;
                    self.define_before(out, scope, start);
                    self.module(out, start);
                }
                Payload::ComponentSection {
                    unchecked_range, ..
                } => {
                    let start = unchecked_range.start as usize;
                    offset = unchecked_range.end as usize;
                    self.define_before(out, scope, start);
                    let child = self.tree.scope_at[&start];
                    match self.plan.dropped_scopes.get(&child) {
                        Some(&kept) => {
                            let index = self.scope_index[kept].expect("kept copy came first");
                            let frame = self.frame();
                            frame.components.push(index);
                            frame.dropped_components.push(true);
                        }
                        None => {
                            let mut nested = Component::new();
                            self.component(&mut nested, whole, child)?;
                            out.section(&NestedComponentSection(&nested));
                            self.scope_index[child] = Some(self.frame().next_component);
                            self.frame().push(Space::Component);
                        }
                    }
                }
                Payload::CustomSection(section) => {
                    let name = section.name();
                    if top && name == "producers" && !producers_written {
                        producers_written = true;
                        out.section(&wasm_encoder::CustomSection {
                            name: "producers".into(),
                            data: producers_with_wtool(Some(section.data())).into(),
                        });
                    } else if !keeps(name, self.options.strip, self.options.keep_names) {
                        self.stripped.add(name, section_size(&section));
                    } else {
                        // A name section that does not parse is copied as it is: custom
                        // sections are not validated, so a valid input may hold one.
                        let names = match section.as_known() {
                            wasmparser::KnownCustom::ComponentName(reader) => {
                                self.custom_component_name_section(reader).ok()
                            }
                            _ => None,
                        };
                        match names {
                            Some(names) => out.section(&names),
                            None => out.section(&wasm_encoder::CustomSection {
                                name: name.into(),
                                data: section.data().into(),
                            }),
                        };
                    }
                }
                Payload::End(_) => break,
                payload => {
                    self.count(&payload);
                    // A section the reencoder does not know is copied raw by it.
                    component_utils::parse_component_payload(self, out, payload, whole)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        if top && !producers_written {
            out.section(&wasm_encoder::CustomSection {
                name: "producers".into(),
                data: producers_with_wtool(None).into(),
            });
        }
        self.frames.pop();
        Ok(())
    }

    /// Emits the definitions of groups of identical modules that go before the item at `start`.
    fn define_before(&mut self, out: &mut Component, scope: usize, start: usize) {
        let plan = self.plan;
        let Some(inserts) = plan.inserts.get(&scope) else {
            return;
        };
        for &(at, group) in inserts {
            if at == start && self.group_index[group].is_none() {
                let unique = plan.groups[group].unique;
                emit_module(out, &self.outcomes[unique].bytes);
                let index = self.frame().next_module;
                self.group_index[group] = Some(index);
                self.frame().next_module += 1;
            }
        }
    }

    fn module(&mut self, out: &mut Component, start: usize) {
        let site = self.tree.module_at[&start];
        match self.plan.action[site] {
            Action::Emit(unique) => {
                emit_module(out, &self.outcomes[unique].bytes);
                self.frame().push(Space::Module);
            }
            Action::Local(group) => {
                let index = self.group_index[group].expect("defined before its first copy");
                // The first copy keeps its name when the definition took its place.
                let first = self.plan.groups[group].sites[0] == site;
                let frame = self.frame();
                frame.modules.push(index);
                frame.dropped_modules.push(!first);
            }
            Action::Outer { count, group } => {
                let index = self.group_index[group].expect("defined before its first copy");
                let mut aliases = ComponentAliasSection::new();
                aliases.alias(Alias::Outer {
                    kind: ComponentOuterAliasKind::CoreModule,
                    count,
                    index,
                });
                out.section(&aliases);
                self.frame().push(Space::Module);
            }
            Action::Skip => unreachable!("modules of dropped components are not visited"),
        }
    }

    /// Adds the module and component entries that imports, aliases and exports create.
    fn count(&mut self, payload: &Payload<'_>) {
        let mut spaces = Vec::new();
        match payload {
            Payload::ComponentImportSection(reader) => {
                for import in reader.clone().into_iter().flatten() {
                    match import.ty {
                        wasmparser::ComponentTypeRef::Module(_) => spaces.push(Space::Module),
                        wasmparser::ComponentTypeRef::Component(_) => spaces.push(Space::Component),
                        _ => {}
                    }
                }
            }
            Payload::ComponentAliasSection(reader) => {
                for alias in reader.clone().into_iter().flatten() {
                    spaces.extend(creates(&alias));
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader.clone().into_iter().flatten() {
                    match export.kind {
                        wasmparser::ComponentExternalKind::Module => spaces.push(Space::Module),
                        wasmparser::ComponentExternalKind::Component => {
                            spaces.push(Space::Component)
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        let frame = self.frame();
        for space in spaces {
            frame.push(space);
        }
    }

    fn outer(&self, count: u32) -> Option<&Frame> {
        let depth = self.frames.len().checked_sub(1 + count as usize)?;
        self.frames.get(depth)
    }
}

fn emit_module(out: &mut Component, bytes: &[u8]) {
    out.section(&RawSection {
        id: ComponentSectionId::CoreModule.into(),
        data: bytes,
    });
}

impl Reencode for Rewriter<'_> {
    type Error = Infallible;
}

impl ReencodeComponent for Rewriter<'_> {
    fn module_index(&mut self, index: u32) -> u32 {
        self.outer_module_index(0, index)
    }

    fn component_index(&mut self, index: u32) -> u32 {
        self.outer_component_index(0, index)
    }

    fn outer_module_index(&mut self, count: u32, index: u32) -> u32 {
        self.outer(count)
            .and_then(|f| f.modules.get(index as usize).copied())
            .unwrap_or(index)
    }

    fn outer_component_index(&mut self, count: u32, index: u32) -> u32 {
        self.outer(count)
            .and_then(|f| f.components.get(index as usize).copied())
            .unwrap_or(index)
    }

    /// Names of dropped modules and components go: their index now belongs to the copy kept.
    fn parse_custom_component_name_subsection(
        &mut self,
        names: &mut wasm_encoder::ComponentNameSection,
        section: wasmparser::ComponentName<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Infallible>> {
        match section {
            wasmparser::ComponentName::CoreModules(map) => {
                names.core_modules(&self.kept_names(map, Space::Module)?);
            }
            wasmparser::ComponentName::Components(map) => {
                names.components(&self.kept_names(map, Space::Component)?);
            }
            other => {
                component_utils::parse_custom_component_name_subsection(self, names, other)?;
            }
        }
        Ok(())
    }
}

impl Rewriter<'_> {
    fn kept_names(
        &mut self,
        map: wasmparser::NameMap<'_>,
        space: Space,
    ) -> Result<wasm_encoder::NameMap, wasm_encoder::reencode::Error<Infallible>> {
        let frame = self.frames.last().expect("inside a component");
        let (new, dropped) = match space {
            Space::Module => (&frame.modules, &frame.dropped_modules),
            Space::Component => (&frame.components, &frame.dropped_components),
        };
        let mut names = wasm_encoder::NameMap::new();
        for naming in map {
            let naming = naming?;
            let i = naming.index as usize;
            if dropped.get(i).copied().unwrap_or(false) {
                continue;
            }
            names.append(new.get(i).copied().unwrap_or(naming.index), naming.name);
        }
        Ok(names)
    }
}
