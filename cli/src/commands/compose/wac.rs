//! `wtool compose FILE.wac`: a composition graph in the WAC language, parsed and resolved with
//! `wac-parser` (the grammar `wac compose` reads). Packages come from `--dep ns:name=PATH`
//! (versioned references included), then the deps directory, then registries through the same
//! resolver and lock as `wtool fetch`.

use super::from_registry::RegistryInputs;
use crate::commands::RegistryArgs;
use crate::exit::{coded, Code};
use crate::input::InputFile;
use crate::package_spec::exactly;
use anyhow::{Context, Result};
use indexmap::IndexMap;
use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource, Report};
use semver::VersionReq;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use wac_graph::{CompositionGraph, EncodeOptions, PackageId, Processor};
use wac_parser::Document;
use wtool_compose::composition::{encode_graph, GraphInput};
use wtool_compose::{ComposeOptions, Output};

pub struct Options<'a> {
    pub deps: &'a [(String, PathBuf)],
    pub deps_dir: &'a Path,
    pub import_dependencies: bool,
    pub registry: &'a RegistryArgs,
}

/// Composes the document at `path` and returns the encoded component. Embedded, it is encoded,
/// validated and stamped with provenance as `--plug` compositions are, so that a document
/// that `--emit-wac` wrote composes to the same bytes as its command line.
pub fn compose(path: &Path, opts: &Options) -> Result<Output> {
    let source = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let render = |e: Report| render(e, path, &source);
    let invalid = |e: Report| coded(Code::InvalidInput, render(e));
    // A package that cannot be had fails as its cause does (a bad file, a registry down).
    let unresolved = |name: &str, span, source: anyhow::Error| {
        let code = crate::exit::classify(&source);
        let report = Report::new(wac_resolver::Error::PackageResolutionFailure {
            name: name.to_string(),
            span,
            source,
        });
        coded(code, render(report))
    };
    let document = Document::parse(&source).map_err(|e| invalid(e.into()))?;
    let keys = wac_resolver::packages(&document).map_err(|e| invalid(e.into()))?;

    let overrides: HashMap<&str, &PathBuf> =
        opts.deps.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut packages = IndexMap::new();
    // What provenance records of each package: its name and, when known, its digest.
    let mut origins: HashMap<String, (String, Option<[u8; 32]>)> = HashMap::new();
    let mut from_registry = Vec::new();
    for (key, span) in &keys {
        let local = overrides
            .get(key.name)
            .map(|p| p.to_path_buf())
            .or_else(|| deps_dir_file(opts.deps_dir, key.name, key.version));
        match local {
            Some(file) => {
                tracing::info!("package `{}` is `{}`", key.name, file.display());
                let bytes = InputFile::read(&file)
                    .map_err(|e| unresolved(key.name, *span, e))?
                    .bytes;
                origins.insert(key.name.to_string(), (file.display().to_string(), None));
                packages.insert(*key, bytes);
            }
            None => from_registry.push((*key, *span)),
        }
    }

    let mut registry_inputs = None;
    for (key, span) in from_registry {
        let fail = |e: anyhow::Error| unresolved(key.name, span, e);
        let name = key
            .name
            .parse()
            .map_err(|e| fail(anyhow::anyhow!("not a registry package name: {e}")))?;
        let req = key.version.map_or(VersionReq::STAR, exactly);
        let inputs = match &mut registry_inputs {
            Some(inputs) => inputs,
            None => registry_inputs.insert(RegistryInputs::open(opts.registry)?),
        };
        let resolved = inputs.resolve(&name, &req).map_err(|e| {
            fail(e.context(format!(
                "not found with --dep or in `{}`, so it was looked up in the registry",
                opts.deps_dir.display()
            )))
        })?;
        let e = &resolved.entry;
        tracing::info!(
            "package `{}` is {}@{} from registry `{}`",
            key.name,
            e.name,
            e.version,
            e.registry
        );
        origins.insert(
            key.name.to_string(),
            (format!("{}@{}", e.name, e.version), Some(e.digest.bytes())),
        );
        packages.insert(key, resolved.bytes);
    }

    // wac-parser reads each package's types recursively: bound their nesting first.
    for (key, span) in &keys {
        if let Some(Err(e)) = packages.get(key).map(|b| wtool_compose::input::walk_all(b)) {
            return Err(unresolved(key.name, *span, e.into()));
        }
    }
    // Resolution is where instantiations meet their arguments: what fails here does not plug.
    let resolution = document
        .resolve(packages)
        .map_err(|e| coded(Code::Composition, render(e.into())))?;
    let output = if opts.import_dependencies {
        let bytes = resolution
            .encode(EncodeOptions {
                define_components: false,
                validate: true,
                processor: Some(Processor {
                    name: "wtool",
                    version: env!("CARGO_PKG_VERSION"),
                }),
            })
            .with_context(|| format!("cannot encode the composition in `{}`", path.display()))?;
        Output::from(bytes)
    } else {
        let graph = resolution.into_graph();
        let inputs = provenance_inputs(&graph, opts.deps, &origins);
        encode_graph(graph, &inputs, &ComposeOptions::default())
            .with_context(|| format!("cannot encode the composition in `{}`", path.display()))?
            .output
    };
    // The lock records the packages only once they composed.
    if let Some(inputs) = registry_inputs {
        inputs.finish()?;
    }
    Ok(output)
}

/// The packages of `graph` as provenance records them: those given with `--dep` first, in the
/// order given (a document `--emit-wac` wrote lists the socket, then the plugs, as the command
/// line did), then the others in the order the document uses them. A package in the `socket`
/// or `plug` namespace, as emitted documents name them, keeps that role.
fn provenance_inputs(
    graph: &CompositionGraph,
    deps: &[(String, PathBuf)],
    origins: &HashMap<String, (String, Option<[u8; 32]>)>,
) -> Vec<GraphInput> {
    let mut packages: Vec<(PackageId, &str)> = graph
        .packages()
        .filter_map(|p| {
            graph
                .get_package_by_name(p.name(), p.version())
                .map(|(id, _)| (id, p.name()))
        })
        .collect();
    let rank = |name: &str| {
        deps.iter()
            .position(|(dep, _)| dep == name)
            .unwrap_or(usize::MAX)
    };
    packages.sort_by_key(|(_, name)| rank(name));
    packages
        .into_iter()
        .map(|(package, name)| {
            let (label, sha256) = origins
                .get(name)
                .cloned()
                .unwrap_or_else(|| (name.to_string(), None));
            GraphInput {
                package,
                role: match name.split_once(':').map(|(ns, _)| ns) {
                    Some("socket") => "socket",
                    Some("plug") => "plug",
                    _ => "package",
                },
                name: label,
                sha256,
            }
        })
        .collect()
}

/// `deps/ns/name.wasm` or `deps/ns/name/1.2.3.wasm`, the layout `wac` reads (`.wat` too).
fn deps_dir_file(root: &Path, name: &str, version: Option<&semver::Version>) -> Option<PathBuf> {
    let mut base = root.to_path_buf();
    for segment in name.split(':') {
        base.push(segment);
    }
    if let Some(v) = version {
        base.push(v.to_string());
    }
    ["wasm", "wat"]
        .iter()
        .map(|ext| base.with_extension(ext))
        .find(|p| p.is_file())
}

/// Renders a diagnostic with its source span, as `wac` prints it.
fn render(e: Report, path: &Path, source: &str) -> anyhow::Error {
    let mut out = String::new();
    let report = e.with_source_code(NamedSource::new(path.to_string_lossy(), source.to_string()));
    let _ = GraphicalReportHandler::new()
        .with_cause_chain()
        .with_theme(GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, report.as_ref());
    anyhow::Error::msg(out.trim_end().to_string())
}
