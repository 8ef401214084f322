//! Structure of a component: imports, exports, nested modules, producers and WIT.
//!
//! The tree of nested artifacts comes from one wasmparser walk (the same walk
//! `wasm-tools metadata show` does), so it works on any well-formed binary. The typed view of
//! imports and exports, with function signatures, comes from decoding the component's WIT,
//! which only succeeds for components whose types WIT can express; when it fails the tree's
//! plain names and kinds are still there.

use crate::input::{classify, header_kind, ArtifactKind, InputError, KindProbe};
use crate::nesting::Walk;
use std::ops::Range;
use wasmparser::{
    ComponentExternalKind, ComponentTypeRef, ExternalKind, KnownCustom, Payload, TypeRef,
};
use wit_component::{DecodedWasm, WitPrinter};
use wit_parser::{Function, Resolve, Type, TypeDefKind, WorldItem, WorldKey};

/// Everything `inspect` shows about one file.
#[derive(Debug, serde::Serialize)]
pub struct Inspection {
    /// Module, component or binary WIT package.
    pub kind: ArtifactKind,
    /// Bytes in the file.
    pub size: u64,
    /// The input and everything nested in it.
    pub tree: Node,
    /// Imports and exports with their WIT types, when the component's WIT could be decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub world: Option<World>,
    /// Why the WIT could not be decoded, for components.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wit_error: Option<String>,
}

/// A module or component and what it holds.
#[derive(Debug, serde::Serialize)]
pub struct Node {
    /// Module or component.
    pub kind: NodeKind,
    /// Position among its parent's modules (or components); `None` for the input itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// From the name section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Byte range in the input, as `wasm-tools metadata show` prints it.
    pub range: Range<u64>,
    /// Bytes it takes, nested artifacts included.
    pub size: u64,
    /// Its producers section.
    pub producers: Vec<Producer>,
    /// Its own imports (not those of nested artifacts).
    pub imports: Vec<Item>,
    /// Its own exports.
    pub exports: Vec<Item>,
    /// The modules and components nested in it, in order.
    pub children: Vec<Node>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
/// The two kinds of node in the tree.
pub enum NodeKind {
    /// A core module.
    CoreModule,
    /// A component.
    Component,
}

/// One field of a producers section: `language`, `processed-by` or `sdk`.
#[derive(Debug, serde::Serialize)]
pub struct Producer {
    /// The field name.
    pub field: String,
    /// Tool names with their versions.
    pub values: Vec<(String, String)>,
}

/// An import or export by name and kind (`func`, `instance`, `memory`, ...).
#[derive(Debug, serde::Serialize)]
pub struct Item {
    /// `module::name` for core imports, the plain name otherwise.
    pub name: String,
    /// `func`, `instance`, `memory`, ...
    pub kind: &'static str,
}

/// The component's imports and exports as WIT sees them.
#[derive(Debug, serde::Serialize)]
pub struct World {
    /// What it imports.
    pub imports: Vec<WorldEntry>,
    /// What it exports.
    pub exports: Vec<WorldEntry>,
}

/// An interface, function or type a world imports or exports.
#[derive(Debug, serde::Serialize)]
pub struct WorldEntry {
    /// The import or export name (`wasi:cli/stdout@0.2.0`).
    pub name: String,
    /// `interface`, `func` or `type`.
    pub kind: &'static str,
    /// For interfaces, the types and functions inside, one WIT declaration each
    /// (`log: func(level: level, message: string)`); for a function, its signature.
    pub items: Vec<String>,
}

/// Why a file could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// Not a WebAssembly file, or a damaged one.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Well framed, but its structure could not be read.
    #[error("`{name}` could not be read: {message}")]
    Read {
        /// The file's name.
        name: String,
        /// What went wrong, and where.
        message: String,
    },
    /// A core module has no WIT.
    #[error(
        "`{name}` is a core module, which has no WIT; WIT describes components. \
         Build a component from it with `wasm-tools component new`"
    )]
    NoWit {
        /// The file's name.
        name: String,
    },
    /// The component's types could not be decoded as WIT.
    #[error("the WIT of `{name}` could not be decoded: {message}")]
    Wit {
        /// The file's name.
        name: String,
        /// wit-component's message.
        message: String,
    },
}

/// Reads the structure of `bytes` (named `name` in messages).
pub fn inspect(name: &str, bytes: &[u8]) -> Result<Inspection, InspectError> {
    let header = header_kind(name, bytes)?;
    // One walk builds the tree and tells a WIT package from a component; only a file it
    // fails on is walked again, to say whether it is damaged or merely odd.
    let (tree, kind) = match tree(bytes, header) {
        Ok(found) => found,
        Err(message) => {
            classify(name, bytes)?;
            return Err(InspectError::Read {
                name: name.to_string(),
                message,
            });
        }
    };
    let (world, wit_error) = match kind {
        ArtifactKind::Component => match crate::input::decode_wit(bytes) {
            Ok(decoded) => (world(&decoded), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        },
        _ => (None, None),
    };
    Ok(Inspection {
        kind,
        size: bytes.len() as u64,
        tree,
        world,
        wit_error,
    })
}

/// The WIT text of a component or WIT package, as `wasm-tools component wit` prints it.
pub fn wit(name: &str, bytes: &[u8]) -> Result<String, InspectError> {
    if header_kind(name, bytes)? == ArtifactKind::CoreModule {
        return Err(InspectError::NoWit {
            name: name.to_string(),
        });
    }
    let wit_error = |e: anyhow::Error| InspectError::Wit {
        name: name.to_string(),
        message: format!("{e:#}"),
    };
    // Decoding reads every section; a file it fails on is walked again to say whether it is
    // damaged.
    let decoded = match crate::input::decode_wit(bytes) {
        Ok(decoded) => decoded,
        Err(e) => {
            classify(name, bytes)?;
            return Err(wit_error(e));
        }
    };
    let resolve = decoded.resolve();
    let main = decoded.package();
    let nested: Vec<_> = resolve
        .packages
        .iter()
        .map(|(id, _)| id)
        .filter(|id| *id != main)
        .collect();
    let mut printer = WitPrinter::default();
    printer.print(resolve, main, &nested).map_err(wit_error)?;
    Ok(printer.output.to_string())
}

fn new_node(kind: NodeKind, index: Option<u32>, range: Range<u64>) -> Node {
    Node {
        kind,
        index,
        name: None,
        size: range.end - range.start,
        range,
        producers: Vec::new(),
        imports: Vec::new(),
        exports: Vec::new(),
        children: Vec::new(),
    }
}

/// The nesting tree and the input's kind; errors are `message at offset`.
fn tree(bytes: &[u8], header: ArtifactKind) -> Result<(Node, ArtifactKind), String> {
    walk(bytes, header).map_err(|e| format!("{} at offset {:#x}", e.message(), e.offset()))?
}

/// `Ok(Err(_))` when the file ends before its last `End`.
fn walk(
    bytes: &[u8],
    header: ArtifactKind,
) -> Result<Result<(Node, ArtifactKind), String>, wasmparser::BinaryReaderError> {
    // Open nodes, innermost last: one per open frame of the walk.
    let mut stack: Vec<Node> = Vec::new();
    let mut probe = KindProbe::default();
    let mut walk = Walk::new(bytes);
    while let Some(payload) = walk.next() {
        let payload = payload?;
        let nest = walk.nest();
        if nest.depth() == 0 {
            probe.payload(&payload)?;
        }
        if let Payload::Version { encoding, .. } = &payload {
            let frame = &nest.frames()[nest.current()];
            let kind = match encoding {
                wasmparser::Encoding::Module => NodeKind::CoreModule,
                wasmparser::Encoding::Component => NodeKind::Component,
            };
            let index = frame.nesting.as_ref().map(|n| n.index);
            stack.push(new_node(kind, index, frame.range.clone()));
            continue;
        }
        let Some(node) = stack.last_mut() else {
            continue;
        };
        match payload {
            Payload::End(_) => {
                let done = stack.pop().expect("an end closes an open node");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => {
                        let kind = probe.kind(header == ArtifactKind::Component);
                        return Ok(Ok((done, kind)));
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    node.imports.push(Item {
                        name: format!("{}::{}", import.module, import.name),
                        kind: core_type_ref_kind(&import.ty),
                    });
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    node.exports.push(Item {
                        name: export.name.to_string(),
                        kind: core_kind(export.kind),
                    });
                }
            }
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    let import = import?;
                    node.imports.push(Item {
                        name: import.name.name.to_string(),
                        kind: component_type_ref_kind(&import.ty),
                    });
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    node.exports.push(Item {
                        name: export.name.name.to_string(),
                        kind: component_kind(export.kind),
                    });
                }
            }
            Payload::CustomSection(section) => match section.as_known() {
                KnownCustom::Producers(_) => {
                    let producers =
                        wasm_metadata::Producers::from_bytes(section.data(), section.data_offset());
                    // A malformed producers section is left out rather than failing inspect.
                    if let Ok(producers) = producers {
                        node.producers = producers
                            .iter()
                            .map(|(field, values)| Producer {
                                field: field.clone(),
                                values: values
                                    .iter()
                                    .map(|(n, v)| (n.clone(), v.clone()))
                                    .collect(),
                            })
                            .collect();
                    }
                }
                KnownCustom::Name(reader) => {
                    for name in reader.into_iter().flatten() {
                        if let wasmparser::Name::Module { name, .. } = name {
                            node.name = Some(name.to_string());
                        }
                    }
                }
                KnownCustom::ComponentName(reader) => {
                    for name in reader.into_iter().flatten() {
                        if let wasmparser::ComponentName::Component { name, .. } = name {
                            node.name = Some(name.to_string());
                        }
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    // The parser ends every artifact it opens, so a missing `End` cannot happen here; answer
    // with an error rather than a panic all the same.
    Ok(Err(format!(
        "unexpected end of file at offset {:#x}",
        bytes.len()
    )))
}

fn core_type_ref_kind(ty: &TypeRef) -> &'static str {
    match ty {
        TypeRef::Func(_) | TypeRef::FuncExact(_) => "func",
        TypeRef::Table(_) => "table",
        TypeRef::Memory(_) => "memory",
        TypeRef::Global(_) => "global",
        TypeRef::Tag(_) => "tag",
    }
}

fn core_kind(kind: ExternalKind) -> &'static str {
    match kind {
        ExternalKind::Func | ExternalKind::FuncExact => "func",
        ExternalKind::Table => "table",
        ExternalKind::Memory => "memory",
        ExternalKind::Global => "global",
        ExternalKind::Tag => "tag",
    }
}

fn component_type_ref_kind(ty: &ComponentTypeRef) -> &'static str {
    match ty {
        ComponentTypeRef::Module(_) => "module",
        ComponentTypeRef::Func(_) => "func",
        ComponentTypeRef::Value(_) => "value",
        ComponentTypeRef::Type(_) => "type",
        ComponentTypeRef::Instance(_) => "instance",
        ComponentTypeRef::Component(_) => "component",
    }
}

fn component_kind(kind: ComponentExternalKind) -> &'static str {
    match kind {
        ComponentExternalKind::Module => "module",
        ComponentExternalKind::Func => "func",
        ComponentExternalKind::Value => "value",
        ComponentExternalKind::Type => "type",
        ComponentExternalKind::Instance => "instance",
        ComponentExternalKind::Component => "component",
    }
}

fn world(decoded: &DecodedWasm) -> Option<World> {
    let DecodedWasm::Component(resolve, world) = decoded else {
        return None;
    };
    let world = &resolve.worlds[*world];
    let entries = |items: &indexmap::IndexMap<WorldKey, WorldItem>| {
        items
            .iter()
            .map(|(key, item)| world_entry(resolve, key, item))
            .collect()
    };
    Some(World {
        imports: entries(&world.imports),
        exports: entries(&world.exports),
    })
}

fn world_entry(resolve: &Resolve, key: &WorldKey, item: &WorldItem) -> WorldEntry {
    let name = resolve.name_world_key(key);
    match item {
        WorldItem::Interface { id, .. } => {
            let iface = &resolve.interfaces[*id];
            let types = iface
                .types
                .iter()
                .map(|(name, id)| type_decl(resolve, name, &resolve.types[*id].kind));
            let funcs = iface.functions.values().map(|f| signature(resolve, f));
            WorldEntry {
                name,
                kind: "interface",
                items: types.chain(funcs).collect(),
            }
        }
        WorldItem::Function(f) => WorldEntry {
            name,
            kind: "func",
            items: vec![signature(resolve, f)],
        },
        WorldItem::Type { id, .. } => WorldEntry {
            name,
            kind: "type",
            items: vec![type_decl(
                resolve,
                &resolve.types[*id].name.clone().unwrap_or_default(),
                &resolve.types[*id].kind,
            )],
        },
    }
}

/// `log: func(level: level, message: string) -> u32`
fn signature(resolve: &Resolve, f: &Function) -> String {
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, type_name(resolve, &p.ty)))
        .collect();
    let result = f
        .result
        .as_ref()
        .map(|t| format!(" -> {}", type_name(resolve, t)))
        .unwrap_or_default();
    format!("{}: func({}){result}", f.name, params.join(", "))
}

fn type_name(resolve: &Resolve, ty: &Type) -> String {
    let mut printer = WitPrinter::default();
    match printer.print_type_name(resolve, ty) {
        Ok(()) => printer.output.to_string(),
        // Types WIT cannot name (anonymous handles in odd positions) are shown as such.
        Err(_) => "<unnamed type>".to_string(),
    }
}

/// `enum level`, `record entry`, `type bytes = list<u8>`: the head of a WIT type definition.
fn type_decl(resolve: &Resolve, name: &str, kind: &TypeDefKind) -> String {
    let keyword = match kind {
        TypeDefKind::Record(_) => "record",
        TypeDefKind::Resource => "resource",
        TypeDefKind::Flags(_) => "flags",
        TypeDefKind::Variant(_) => "variant",
        TypeDefKind::Enum(_) => "enum",
        TypeDefKind::Type(target) => {
            return format!("type {name} = {}", type_name(resolve, target))
        }
        _ => "type",
    };
    format!("{keyword} {name}")
}
