//! `wtool inspect`: what a component imports and exports, what it is made of, and its WIT.

use super::GlobalOpts;
use crate::input::InputFile;
use anyhow::Result;
use serde::Serialize;
use std::fmt::{self, Write};
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
        let out = global.output();
        let report = Report {
            file: &name,
            inspection: &info,
            wit: wit_text.as_deref(),
        };
        match &wit_text {
            // The WIT is what was asked for, so `-q` does not hide it.
            Some(wit) => out.product(&report, || wit.clone())?,
            None => out.answer(&report, || {
                let mut text = String::new();
                write_text(&mut text, &name, &info, out.verbose > 0)
                    .expect("formatting into a String cannot fail");
                text
            })?,
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `--json` of `wtool inspect`: the file's name, the inspection and, when asked for, its WIT.
#[derive(Serialize)]
struct Report<'a> {
    file: &'a str,
    #[serde(flatten)]
    inspection: &'a Inspection,
    #[serde(skip_serializing_if = "Option::is_none")]
    wit: Option<&'a str>,
}

fn write_text(out: &mut String, name: &str, info: &Inspection, verbose: bool) -> fmt::Result {
    let kind = match info.kind {
        ArtifactKind::CoreModule => "core module",
        ArtifactKind::Component => "component",
        ArtifactKind::WitPackage => "WIT package",
    };
    writeln!(out, "{name}: {kind}, {} bytes", info.size)?;
    match &info.world {
        Some(world) => {
            write_entries(out, "imports", &world.imports)?;
            write_entries(out, "exports", &world.exports)?;
        }
        None => {
            write_items(out, "", "imports", &info.tree.imports)?;
            write_items(out, "", "exports", &info.tree.exports)?;
        }
    }
    if let Some(err) = &info.wit_error {
        writeln!(out, "(no WIT types: {err})")?;
    }
    writeln!(out, "contents:")?;
    write_node(out, &info.tree, 1, verbose)
}

fn write_entries(out: &mut String, title: &str, entries: &[WorldEntry]) -> fmt::Result {
    if entries.is_empty() {
        writeln!(out, "{title}: none")?;
        return Ok(());
    }
    writeln!(out, "{title}:")?;
    for entry in entries {
        writeln!(out, "  {} ({})", entry.name, entry.kind)?;
        for item in &entry.items {
            writeln!(out, "    {item}")?;
        }
    }
    Ok(())
}

fn write_items(out: &mut String, indent: &str, title: &str, items: &[Item]) -> fmt::Result {
    if items.is_empty() {
        writeln!(out, "{indent}{title}: none")?;
        return Ok(());
    }
    writeln!(out, "{indent}{title}:")?;
    for item in items {
        writeln!(out, "{indent}  {} ({})", item.name, item.kind)?;
    }
    Ok(())
}

fn write_node(out: &mut String, node: &Node, depth: usize, verbose: bool) -> fmt::Result {
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
    writeln!(out, "{indent}{line}")?;
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
        writeln!(out, "{indent}  producers: {}", fields.join("; "))?;
    }
    if verbose && node.index.is_some() {
        let deeper = format!("{indent}  ");
        write_items(out, &deeper, "imports", &node.imports)?;
        write_items(out, &deeper, "exports", &node.exports)?;
    }
    for child in &node.children {
        write_node(out, child, depth + 1, verbose)?;
    }
    Ok(())
}
