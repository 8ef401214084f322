//! What a release's content says about itself: its metadata (description, licence, source) and
//! its WIT (text, worlds, interfaces, the packages it depends on). Content never changes, so
//! callers cache the answer per digest.

use wit_component::DecodedWasm;
use wit_parser::{Resolve, WorldId, WorldItem};

/// What a component's metadata says of it (`wasm-metadata`).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct Metadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licenses: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authors: Option<String>,
}

/// The description of one piece of content.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct Described {
    #[serde(flatten)]
    pub meta: Metadata,
    /// `component` or `wit-package`.
    pub kind: &'static str,
    /// The WIT text, as `wasm-tools component wit` prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wit: Option<String>,
    /// Why the WIT could not be shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wit_error: Option<String>,
    pub worlds: Vec<WorldView>,
    /// Interfaces the package defines (`ns:pkg/name`).
    pub interfaces: Vec<String>,
    /// Other packages the WIT refers to (`wasi:io`), with a version where the WIT names one.
    pub dependencies: Vec<Dependency>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct WorldView {
    pub name: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub(crate) struct Dependency {
    /// `namespace:name`.
    pub package: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

fn world_view(resolve: &Resolve, id: WorldId, name: String) -> WorldView {
    let world = &resolve.worlds[id];
    let names = |items: &indexmap::IndexMap<wit_parser::WorldKey, WorldItem>| {
        items
            .iter()
            .filter(|(_, item)| !matches!(item, WorldItem::Type { .. }))
            .map(|(key, _)| resolve.name_world_key(key))
            .collect()
    };
    WorldView {
        name,
        imports: names(&world.imports),
        exports: names(&world.exports),
    }
}

fn metadata(bytes: &[u8], out: &mut Described) {
    let Ok(payload) = wasm_metadata::Payload::from_binary(bytes) else {
        return;
    };
    let m = payload.metadata();
    out.meta = Metadata {
        description: m.description.as_ref().map(|d| d.to_string()),
        licenses: m.licenses.as_ref().map(|d| d.to_string()),
        source: m.source.as_ref().map(|d| d.to_string()),
        homepage: m.homepage.as_ref().map(|d| d.to_string()),
        authors: m.authors.as_ref().map(|d| d.to_string()),
    };
}

/// Describes content; anything it cannot read is left out, with the WIT error said.
pub(crate) fn describe(name: &str, bytes: &[u8]) -> Described {
    let mut out = Described {
        kind: "component",
        ..Default::default()
    };
    metadata(bytes, &mut out);
    let decoded = match wtool_compose::input::decode_wit(bytes) {
        Ok(decoded) => decoded,
        Err(e) => {
            out.wit_error = Some(format!("{e:#}"));
            return out;
        }
    };
    let resolve = decoded.resolve();
    let main = decoded.package();
    match &decoded {
        DecodedWasm::WitPackage(..) => {
            out.kind = "wit-package";
            let package = &resolve.packages[main];
            for (world_name, id) in &package.worlds {
                out.worlds
                    .push(world_view(resolve, *id, world_name.clone()));
            }
            for (iface_name, _) in &package.interfaces {
                out.interfaces.push(format!(
                    "{}/{iface_name}",
                    format_args!("{}:{}", package.name.namespace, package.name.name)
                ));
            }
        }
        DecodedWasm::Component(_, world) => {
            out.worlds
                .push(world_view(resolve, *world, "component".into()));
        }
    }
    let mut deps: Vec<Dependency> = resolve
        .packages
        .iter()
        .filter(|(id, _)| *id != main)
        .map(|(_, p)| Dependency {
            package: format!("{}:{}", p.name.namespace, p.name.name),
            version: p.name.version.as_ref().map(|v| v.to_string()),
        })
        .collect();
    deps.sort();
    deps.dedup();
    out.dependencies = deps;
    match wtool_compose::inspect::wit(name, bytes) {
        Ok(text) => out.wit = Some(text),
        Err(e) => out.wit_error = Some(e.to_string()),
    }
    out
}

impl Described {
    /// Whether the query names one of its interfaces, in full (`wasi:http/handler`) or by its
    /// short name (`handler`), or part of either.
    pub(crate) fn mentions_interface(&self, query: &str) -> bool {
        let q = query.to_ascii_lowercase();
        let hit = |name: &str| name.to_ascii_lowercase().contains(&q);
        self.interfaces.iter().any(|i| hit(i))
            || self
                .worlds
                .iter()
                .any(|w| w.imports.iter().chain(&w.exports).any(|i| hit(i)))
    }
}
