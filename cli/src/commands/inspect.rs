//! `wtool inspect`: what a component imports and exports, what it is made of, and its WIT.

use super::GlobalOpts;
use crate::input::InputFile;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use wtool_compose::input::ArtifactKind;
use wtool_compose::inspect::{inspect, wit, Inspection, Item, Node, NodeKind, WorldEntry};

/// Show the imports, exports, nested modules and producers of a component or module.
#[derive(clap::Args)]
pub struct Args {
    /// The component, module or binary WIT package (.wasm, or .wat text).
    pub file: PathBuf,
    /// Print the WIT of the component instead (through wit-component, as
    /// `wasm-tools component wit` does).
    #[arg(long)]
    pub wit: bool,
}

impl Args {
    pub fn run(self, global: &GlobalOpts) -> Result<ExitCode> {
        let input = InputFile::read(&self.file)?;
        let name = input.name();
        if self.wit && !global.json {
            // The WIT alone: decoded once, with no tree or world view built beside it.
            print!("{}", wit(&name, &input.bytes)?);
            return Ok(ExitCode::SUCCESS);
        }
        let info = inspect(&name, &input.bytes)?;
        // A WIT package has nothing to show but its WIT.
        let want_wit = self.wit || info.kind == ArtifactKind::WitPackage;
        let wit_text = if want_wit {
            Some(wit(&name, &input.bytes)?)
        } else {
            None
        };
        if global.json {
            let mut out = serde_json::to_value(&info)?;
            out["file"] = name.clone().into();
            if let Some(text) = &wit_text {
                out["wit"] = text.clone().into();
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else if let Some(text) = wit_text {
            print!("{text}");
        } else if !global.quiet {
            print_text(&name, &info, global.verbose > 0);
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn print_text(name: &str, info: &Inspection, verbose: bool) {
    let kind = match info.kind {
        ArtifactKind::CoreModule => "core module",
        ArtifactKind::Component => "component",
        ArtifactKind::WitPackage => "WIT package",
    };
    println!("{name}: {kind}, {} bytes", info.size);
    match &info.world {
        Some(world) => {
            print_entries("imports", &world.imports);
            print_entries("exports", &world.exports);
        }
        None => {
            print_items("", "imports", &info.tree.imports);
            print_items("", "exports", &info.tree.exports);
        }
    }
    if let Some(err) = &info.wit_error {
        println!("(no WIT types: {err})");
    }
    println!("contents:");
    print_node(&info.tree, 1, verbose);
}

fn print_entries(title: &str, entries: &[WorldEntry]) {
    if entries.is_empty() {
        println!("{title}: none");
        return;
    }
    println!("{title}:");
    for entry in entries {
        println!("  {} ({})", entry.name, entry.kind);
        for item in &entry.items {
            println!("    {item}");
        }
    }
}

fn print_items(indent: &str, title: &str, items: &[Item]) {
    if items.is_empty() {
        println!("{indent}{title}: none");
        return;
    }
    println!("{indent}{title}:");
    for item in items {
        println!("{indent}  {} ({})", item.name, item.kind);
    }
}

fn print_node(node: &Node, depth: usize, verbose: bool) {
    let indent = "  ".repeat(depth);
    let mut line = match (node.kind, node.index) {
        (NodeKind::CoreModule, Some(i)) => format!("core module {i}"),
        (NodeKind::Component, Some(i)) => format!("component {i}"),
        (NodeKind::CoreModule, None) => "core module".to_string(),
        (NodeKind::Component, None) => "component".to_string(),
    };
    if let Some(name) = &node.name {
        line += &format!(" `{name}`");
    }
    line += &format!(
        ", bytes {:#x}..{:#x} ({} bytes)",
        node.range.start, node.range.end, node.size
    );
    if node.kind == NodeKind::CoreModule {
        line += &format!(
            ", {} imports, {} exports",
            node.imports.len(),
            node.exports.len()
        );
    }
    println!("{indent}{line}");
    if !node.producers.is_empty() {
        let fields: Vec<String> = node
            .producers
            .iter()
            .map(|p| {
                let values: Vec<String> = p
                    .values
                    .iter()
                    .map(|(n, v)| {
                        if v.is_empty() {
                            n.clone()
                        } else {
                            format!("{n} {v}")
                        }
                    })
                    .collect();
                format!("{} {}", p.field, values.join(", "))
            })
            .collect();
        println!("{indent}  producers: {}", fields.join("; "));
    }
    if verbose && node.index.is_some() {
        let deeper = format!("{indent}  ");
        print_items(&deeper, "imports", &node.imports);
        print_items(&deeper, "exports", &node.exports);
    }
    for child in &node.children {
        print_node(child, depth + 1, verbose);
    }
}
