//! Embedding inputs without copying them. wac encodes a graph with its components imported
//! (`define_components: false`, as `wac --import-dependencies` does); each such import is then
//! replaced, in place, by a component section whose body is the input's own bytes, kept as a
//! reference rather than copied. An import and a definition each add one entry to the component
//! index space at the same position, so every index in the encoding stays valid.
//!
//! The component type each import used is left with no user. Removing it would renumber every
//! later type, so it is emptied instead: `(component)` keeps its index and costs two bytes,
//! where a WASI command's full type costs about 1.5 KB.

use crate::output::Piece;
use crate::sections::{Section, Sections};
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use wac_graph::PackageId;
use wasm_encoder::{ComponentSectionId, Encode};
use wasmparser::{
    BinaryReader, ComponentAlias, ComponentExport, ComponentExternalKind, ComponentImport,
    ComponentOuterAliasKind, ComponentType, ComponentTypeRef, FromReader, SectionLimited,
};

/// wac's name for the import of a package's component (`CompositionGraphEncoder::
/// package_import_name`).
pub(crate) fn import_name(package_name: &str, version: Option<&semver::Version>) -> String {
    match version {
        Some(version) => format!("unlocked-dep=<{package_name}@{{>={version}}}>"),
        None => format!("unlocked-dep=<{package_name}>"),
    }
}

/// `(component)`: a component type with no declarations.
const EMPTY_COMPONENT_TYPE: [u8; 2] = [0x41, 0x00];

/// The pieces of the embedding form, or `None` if `encoded` is not shaped as expected (the
/// caller then encodes with the components defined instead).
pub(crate) fn embed(
    encoded: Vec<u8>,
    imports: &HashMap<String, (PackageId, usize)>,
) -> Option<Vec<Piece>> {
    let emptied = types_to_empty(&encoded, imports)?;
    let mut pieces = Vec::new();
    let mut current = Vec::new();
    // `encoded[copied..]` is still to be copied.
    let mut copied = 0;
    for section in Sections::new(&encoded).ok()? {
        let section = section.ok()?;
        let start = section.range.start;
        if section.id == ComponentSectionId::Import as u8 {
            let entries = entries(section_reader(&section)?)?;
            if entries
                .iter()
                .any(|(import, _)| embedded(import, imports).is_some())
            {
                current.extend_from_slice(&encoded[copied..start]);
                rewrite_imports(&encoded, &entries, imports, &mut pieces, &mut current);
                copied = section.range.end;
            }
        } else if section.id == ComponentSectionId::Type as u8 {
            let entries = entries::<ComponentType>(section_reader(&section)?)?;
            if entries.iter().any(|(_, r)| emptied.contains(&r.start)) {
                current.extend_from_slice(&encoded[copied..start]);
                let kept = entries.iter().map(|(_, r)| {
                    if emptied.contains(&r.start) {
                        &EMPTY_COMPONENT_TYPE[..]
                    } else {
                        &encoded[r.clone()]
                    }
                });
                write_section(ComponentSectionId::Type, kept.collect(), &mut current);
                copied = section.range.end;
            }
        }
    }
    current.extend_from_slice(&encoded[copied..]);
    pieces.push(Piece::Bytes(current));
    Some(pieces)
}

/// The entries of a vector section.
fn section_reader<'a, T: FromReader<'a>>(section: &Section<'a>) -> Option<SectionLimited<'a, T>> {
    SectionLimited::new(BinaryReader::new(section.data, section.body.start as u64)).ok()
}

/// Where the component types of the embedded imports are defined: the start offsets of their
/// entries in type sections. Counting the type index space means counting every item that
/// adds to it at the top level: type definitions, type aliases, and imports and exports of
/// types.
fn types_to_empty(
    encoded: &[u8],
    imports: &HashMap<String, (PackageId, usize)>,
) -> Option<HashSet<usize>> {
    use ComponentSectionId as Id;
    let mut defined: HashMap<u32, usize> = HashMap::new();
    let mut used = HashSet::new();
    let mut count = 0u32;
    for section in Sections::new(encoded).ok()? {
        let section = section.ok()?;
        match section.id {
            // Nothing is defined in this form; a nested parse would need its own bookkeeping.
            id if id == Id::CoreModule as u8 || id == Id::Component as u8 => return None,
            id if id == Id::Type as u8 => {
                let reader: SectionLimited<ComponentType> = section_reader(&section)?;
                for entry in reader.into_iter_with_offsets() {
                    let (offset, _) = entry.ok()?;
                    defined.insert(count, offset as usize);
                    count += 1;
                }
            }
            id if id == Id::Alias as u8 => {
                let reader: SectionLimited<ComponentAlias> = section_reader(&section)?;
                for alias in reader {
                    match alias.ok()? {
                        ComponentAlias::InstanceExport {
                            kind: ComponentExternalKind::Type,
                            ..
                        }
                        | ComponentAlias::Outer {
                            kind: ComponentOuterAliasKind::Type,
                            ..
                        } => count += 1,
                        _ => {}
                    }
                }
            }
            id if id == Id::Import as u8 => {
                let reader: SectionLimited<ComponentImport> = section_reader(&section)?;
                for import in reader {
                    let import = import.ok()?;
                    match import.ty {
                        ComponentTypeRef::Type(_) => count += 1,
                        ComponentTypeRef::Component(ty)
                            if imports.contains_key(import.name.name) =>
                        {
                            used.insert(ty);
                        }
                        _ => {}
                    }
                }
            }
            id if id == Id::Export as u8 => {
                let reader: SectionLimited<ComponentExport> = section_reader(&section)?;
                for export in reader {
                    if export.ok()?.kind == ComponentExternalKind::Type {
                        count += 1;
                    }
                }
            }
            _ => {}
        }
    }
    Some(
        used.iter()
            .filter_map(|ty| defined.get(ty).copied())
            .collect(),
    )
}

/// A section's entries, each with the byte range it was read from.
fn entries<'a, T: FromReader<'a>>(reader: SectionLimited<'a, T>) -> Option<Vec<(T, Range<usize>)>> {
    let end = usize::try_from(reader.range().end).ok()?;
    let items = reader
        .into_iter_with_offsets()
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let starts: Vec<usize> = items.iter().map(|(offset, _)| *offset as usize).collect();
    let ends = starts.iter().skip(1).copied().chain([end]);
    let ranges = starts.iter().zip(ends).map(|(&start, end)| start..end);
    Some(
        items
            .into_iter()
            .map(|(_, item)| item)
            .zip(ranges)
            .collect(),
    )
}

/// The package a component import stands for, if it is one of the embedded inputs.
fn embedded(
    import: &ComponentImport<'_>,
    imports: &HashMap<String, (PackageId, usize)>,
) -> Option<(PackageId, usize)> {
    match import.ty {
        ComponentTypeRef::Component(_) => imports.get(import.name.name).copied(),
        _ => None,
    }
}

/// Splits one import section around its component imports: runs of other imports become
/// import sections again, and each component import becomes a component section header
/// followed by the package's bytes.
fn rewrite_imports(
    encoded: &[u8],
    entries: &[(ComponentImport<'_>, Range<usize>)],
    imports: &HashMap<String, (PackageId, usize)>,
    pieces: &mut Vec<Piece>,
    current: &mut Vec<u8>,
) {
    let mut run: Vec<&[u8]> = Vec::new();
    for (import, range) in entries {
        match embedded(import, imports) {
            Some((id, len)) => {
                write_section(
                    ComponentSectionId::Import,
                    std::mem::take(&mut run),
                    current,
                );
                current.push(ComponentSectionId::Component as u8);
                len.encode(current);
                pieces.push(Piece::Bytes(std::mem::take(current)));
                pieces.push(Piece::Package(id));
            }
            None => run.push(&encoded[range.clone()]),
        }
    }
    write_section(ComponentSectionId::Import, run, current);
}

/// A vector section (`id`, size, count, entries); nothing for no entries.
fn write_section(id: ComponentSectionId, entries: Vec<&[u8]>, out: &mut Vec<u8>) {
    if entries.is_empty() {
        return;
    }
    let mut body = Vec::new();
    entries.len().encode(&mut body);
    entries
        .iter()
        .for_each(|entry| body.extend_from_slice(entry));
    out.push(id as u8);
    body.as_slice().encode(out);
}
#[cfg(test)]
mod tests {
    use crate::{compose, ComposeOptions, Input};

    fn input(name: &str, wat: &str) -> Input {
        Input {
            name: name.into(),
            bytes: wat::parse_str(wat).unwrap(),
            sha256: None,
            instance: None,
        }
    }

    const SOCKET: &str = r#"(component
        (import "host:x/env" (instance $env (export "now" (func (result u64)))))
        (import "foo:bar/log@0.2.0" (instance $log (export "log" (func))))
        (alias export $log "log" (func $f))
        (export "run" (func $f)))"#;
    const PLUG: &str = r#"(component
        (core module $m (func (export "log")))
        (core instance $i (instantiate $m))
        (func $log (canon lift (core func $i "log")))
        (instance $out (export "log" (func $log)))
        (export "foo:bar/log@0.2.1" (instance $out)))"#;

    /// The inputs appear in the output byte for byte as nested components, the component
    /// types their imports used are emptied, and the host import keeps its place.
    #[test]
    fn inputs_are_embedded_verbatim_and_their_types_emptied() {
        let (socket, plug) = (input("socket.wat", SOCKET), input("plug.wat", PLUG));
        let expected = [plug.bytes.clone(), socket.bytes.clone()];
        let composition = compose(
            socket,
            vec![plug],
            &ComposeOptions {
                embed_by_reference_from: 0,
                ..ComposeOptions::default()
            },
        )
        .unwrap();
        let bytes = composition.output.to_vec();
        assert!(composition.output.chunks().count() > 1, "not spliced");

        let mut nested = Vec::new();
        let mut imports = Vec::new();
        let printed = wasmprinter::print_bytes(&bytes).unwrap();
        let mut walk = crate::nesting::Walk::new(&bytes);
        while let Some(payload) = walk.next() {
            let depth = walk.nest().depth();
            match payload.unwrap() {
                wasmparser::Payload::ComponentSection {
                    unchecked_range, ..
                } if depth == 0 => {
                    let range = unchecked_range.start as usize..unchecked_range.end as usize;
                    nested.push(bytes[range].to_vec());
                }
                wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                    for import in reader {
                        imports.push(import.unwrap().name.name.to_string());
                    }
                }
                _ => {}
            }
        }
        assert_eq!(nested, expected, "{printed}");
        assert_eq!(imports, ["host:x/env"], "{printed}");
        assert_eq!(printed.matches("(component)").count(), 2, "{printed}");
        assert!(!printed.contains("unlocked-dep"), "{printed}");
    }
}
