//! `compose`: classify and load inputs → plan → build the wac graph → encode with the inputs
//! embedded by reference, and validate (beside hashing the inputs) → stamp provenance →
//! optionally optimize and validate again.

use crate::explain::UnusedPlug;
use crate::input::{classify, ArtifactKind, InputError};
use crate::optimize::{optimize, OptimizeError, OptimizeOptions, Report as OptimizeReport};
use crate::output::{Output, Piece};
use crate::plan::{self, Link, Node, Plan, PlanError};
use crate::provenance::{self, InputDigest};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use wac_graph::types::{are_semver_compatible, Package};
use wac_graph::{CompositionGraph, EncodeOptions, NodeId, PackageId, Processor};

/// One file handed to `compose`: the name to show in messages, and its bytes.
pub struct Input {
    pub name: String,
    pub bytes: Vec<u8>,
    /// The sha256 of `bytes`, when the caller already knows it (from a lock or a cache of
    /// earlier runs); computed otherwise.
    pub sha256: Option<[u8; 32]>,
}

#[derive(Debug, Clone)]
pub struct ComposeOptions {
    /// Features the output is validated with; `None` tries wasmparser's defaults and falls
    /// back to every feature, which wac already required of each input.
    pub features: Option<wasmparser::WasmFeatures>,
    /// Optimize the validated composition (`wtool compose --optimize`); the result is
    /// validated again with the same features.
    pub optimize: Option<OptimizeOptions>,
    /// From this many input bytes on, the output refers to the inputs' bytes instead of
    /// copying them (see `splice`). Below it, wac's plain encoding is cheaper: the by-reference
    /// form makes wac encode every input's full component type only to empty it again.
    pub embed_by_reference_from: usize,
}

impl Default for ComposeOptions {
    fn default() -> Self {
        Self {
            features: None,
            optimize: None,
            embed_by_reference_from: 1 << 20,
        }
    }
}

pub struct Composition {
    pub output: Output,
    pub report: Report,
}

/// What happened, for people (the `Display` impl) and machines (`Serialize`).
#[derive(Debug, Serialize)]
pub struct Report {
    pub inputs: Vec<InputDigest>,
    pub links: Vec<Link>,
    /// Imports of the output, each with the inputs that asked for it (under the name they used).
    pub host_imports: Vec<HostImport>,
    pub unused_plugs: Vec<UnusedPlug>,
    pub exports: Vec<String>,
    pub size: usize,
    /// What optimization did, when it was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimized: Option<OptimizeReport>,
}

#[derive(Debug, Serialize)]
pub struct HostImport {
    pub name: String,
    pub wanted_by: Vec<Want>,
}

#[derive(Debug, Serialize)]
pub struct Want {
    pub input: String,
    /// The name this input imported; differs from the output's when semver-merged.
    pub import: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(
        "`{name}` is {kind}, but compose needs a component. {hint}",
        hint = kind_hint(*.kind)
    )]
    NotAComponent { name: String, kind: ArtifactKind },
    #[error("`{name}` is not a valid component: {detail}. Rebuild it, or check it with `wtool validate {name}`")]
    InvalidComponent { name: String, detail: String },
    #[error("{}", nothing_plugged(.socket, .imports, .unused))]
    NothingPlugged {
        socket: String,
        imports: Vec<String>,
        unused: Vec<UnusedPlug>,
    },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("linking `{consumer}` import `{import}` to `{provider}` failed: {detail}")]
    Link {
        consumer: String,
        import: String,
        provider: String,
        detail: String,
    },
    #[error(transparent)]
    Optimize(Box<OptimizeError>),
    #[error("encoding the composition failed: {0:#}")]
    Encode(anyhow::Error),
    #[error(
        "the composed component does not validate ({0}); this is a bug in wtool, please report \
         it with the inputs"
    )]
    InvalidOutput(String),
}

fn kind_hint(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::CoreModule => {
            "Turn the module into a component first (`wasm-tools component new`, or build for \
             the wasm32-wasip2 target)"
        }
        ArtifactKind::WitPackage => {
            "A WIT package only describes interfaces and has no code to plug in; pass the \
             component that implements it"
        }
        ArtifactKind::Component => "",
    }
}

fn nothing_plugged(socket: &str, imports: &[String], unused: &[UnusedPlug]) -> String {
    let mut msg = if imports.is_empty() {
        format!("no plug fills an import of `{socket}`: it imports nothing")
    } else {
        format!(
            "no plug fills an import of `{socket}`, which imports:\n    {}",
            imports.join("\n    ")
        )
    };
    for plug in unused {
        msg += &format!("\n  {plug}");
    }
    msg
}

pub fn compose(
    socket: Input,
    plugs: Vec<Input>,
    options: &ComposeOptions,
) -> Result<Composition, ComposeError> {
    let inputs: Vec<Input> = std::iter::once(socket).chain(plugs).collect();
    let Loaded {
        mut graph,
        packages,
        names,
        package_names,
        known,
    } = load(inputs)?;

    let nodes: Vec<Node> = names
        .iter()
        .zip(&packages)
        .map(|(name, &id)| Node {
            name,
            world: graph[id].ty(),
        })
        .collect();
    let plan = plan::plan(graph.types(), &nodes)?;
    if plan.links.is_empty() && names.len() > 1 {
        return Err(ComposeError::NothingPlugged {
            socket: names[0].clone(),
            imports: graph.types()[nodes[0].world]
                .imports
                .keys()
                .cloned()
                .collect(),
            unused: plan.unused,
        });
    }

    let instances = build_graph(&mut graph, &packages, &plan, &package_names)?;
    let socket_instance = instances[&0];
    let socket_exports: Vec<String> = graph.types()[nodes[0].world]
        .exports
        .keys()
        .cloned()
        .collect();
    for name in &socket_exports {
        let alias = graph
            .alias_instance_export(socket_instance, name)
            .map_err(|e| ComposeError::Encode(e.into()))?;
        graph
            .export(alias, name)
            .map_err(|e| ComposeError::Encode(e.into()))?;
    }

    let embedded: HashMap<String, (PackageId, usize)> = packages
        .iter()
        .zip(&package_names)
        .map(|(&id, name)| {
            (
                crate::splice::import_name(name),
                (id, graph[id].bytes().len()),
            )
        })
        .collect();
    // Hashing 18 MB costs as much as validating it, so it runs beside encoding and validation.
    let hash = || {
        packages
            .iter()
            .zip(&names)
            .zip(&known)
            .enumerate()
            .map(|(i, ((&id, name), known))| {
                let role = if i == 0 { "socket" } else { "plug" };
                InputDigest::new(role, name, graph[id].bytes(), *known)
            })
            .collect::<Vec<_>>()
    };
    let input_bytes: usize = embedded.values().map(|&(_, len)| len).sum();
    let encode = || encode_and_validate(&graph, &embedded, input_bytes, options);
    let (digests, encoded) = if crate::validate::chunks::worth_parallel(input_bytes) {
        rayon::join(hash, encode)
    } else {
        (hash(), encode())
    };
    let Encoded {
        mut pieces,
        imports,
    } = encoded?;
    // A custom section cannot change what the validated component means or whether it is
    // valid, so stamping after validation keeps the hashing off the critical path.
    if let Some(Piece::Bytes(last)) = pieces.last_mut() {
        provenance::stamp(last, &digests);
    }
    let mut output = Output::new(graph, pieces);
    let optimized = match &options.optimize {
        Some(opts) => {
            let opts = OptimizeOptions {
                features: opts.features.or(options.features),
                ..opts.clone()
            };
            let done = optimize("the composition", &output.to_vec(), &opts)
                .map_err(|e| ComposeError::Optimize(Box::new(e)))?;
            output = Output::from(done.bytes);
            Some(done.report)
        }
        None => None,
    };

    let host_imports = host_imports(imports, &plan);
    Ok(Composition {
        report: Report {
            inputs: digests,
            links: plan.links,
            host_imports,
            unused_plugs: plan.unused,
            exports: socket_exports,
            size: output.len(),
            optimized,
        },
        output,
    })
}

/// The inputs registered in a graph, with what is known of each, in input order.
struct Loaded {
    graph: CompositionGraph,
    packages: Vec<PackageId>,
    names: Vec<String>,
    package_names: Vec<String>,
    known: Vec<Option<[u8; 32]>>,
}

/// Classifies and decodes every input into one graph's type arena.
fn load(inputs: Vec<Input>) -> Result<Loaded, ComposeError> {
    let mut graph = CompositionGraph::new();
    let mut packages = Vec::with_capacity(inputs.len());
    let package_names = package_names(&inputs);
    let mut names = Vec::with_capacity(inputs.len());
    let mut known = Vec::with_capacity(inputs.len());
    for (input, package_name) in inputs.into_iter().zip(&package_names) {
        known.push(input.sha256);
        match classify(&input.name, &input.bytes)? {
            ArtifactKind::Component => {}
            kind => {
                return Err(ComposeError::NotAComponent {
                    name: input.name,
                    kind,
                })
            }
        }
        // The bytes move into the package: a second copy of an 18 MB input would push peak
        // memory past twice the input size.
        let package = Package::from_bytes(package_name, None, input.bytes, graph.types_mut())
            .map_err(|e| ComposeError::InvalidComponent {
                name: input.name.clone(),
                detail: format!("{e:#}"),
            })?;
        let id = graph
            .register_package(package)
            .map_err(|e| ComposeError::Encode(e.into()))?;
        packages.push(id);
        names.push(input.name);
    }

    Ok(Loaded {
        graph,
        packages,
        names,
        package_names,
        known,
    })
}

/// Package names only reach the output's name section, so they are derived from file stems
/// (made unique), never from paths: the same inputs in another directory give the same bytes.
fn package_names(inputs: &[Input]) -> Vec<String> {
    let stems: Vec<String> = inputs
        .iter()
        .map(|i| {
            let file = i.name.rsplit(['/', '\\']).next().unwrap_or(&i.name);
            let stem = file.split('.').next().unwrap_or(file);
            let clean: String = stem
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            let clean = clean.trim_matches('-').to_string();
            if clean.is_empty() {
                "input".to_string()
            } else {
                clean
            }
        })
        .collect();
    let mut names = Vec::with_capacity(stems.len());
    for (i, stem) in stems.iter().enumerate() {
        let role = if i == 0 { "socket" } else { "plug" };
        let dupes = stems.iter().filter(|s| *s == stem).count();
        names.push(if dupes > 1 {
            format!("{role}:{stem}{i}")
        } else {
            format!("{role}:{stem}")
        });
    }
    names
}

/// Instantiates every used input once and wires the planned links.
fn build_graph(
    graph: &mut CompositionGraph,
    packages: &[PackageId],
    plan: &Plan,
    names: &[String],
) -> Result<BTreeMap<usize, NodeId>, ComposeError> {
    let mut instances = BTreeMap::new();
    for input in plan.used() {
        let node = graph.instantiate(packages[input]);
        graph.set_node_name(node, names[input].split(':').nth(1).unwrap_or("input"));
        instances.insert(input, node);
    }
    for link in &plan.links {
        let fail = |detail: String| ComposeError::Link {
            consumer: link.consumer_name.clone(),
            import: link.import.clone(),
            provider: link.provider_name.clone(),
            detail,
        };
        let alias = graph
            .alias_instance_export(instances[&link.provider], &link.export)
            .map_err(|e| fail(format!("{:#}", anyhow::Error::from(e))))?;
        graph
            .set_instantiation_argument(instances[&link.consumer], &link.import, alias)
            .map_err(|e| fail(format!("{:#}", anyhow::Error::from(e))))?;
    }
    Ok(instances)
}

struct Encoded {
    pieces: Vec<Piece>,
    /// The output's imports, in order.
    imports: Vec<String>,
}

fn encode_and_validate(
    graph: &CompositionGraph,
    embedded: &HashMap<String, (PackageId, usize)>,
    input_bytes: usize,
    options: &ComposeOptions,
) -> Result<Encoded, ComposeError> {
    let encode = |define_components| {
        graph
            .encode(EncodeOptions {
                define_components,
                validate: false,
                processor: Some(Processor {
                    name: "wtool",
                    version: env!("CARGO_PKG_VERSION"),
                }),
            })
            .map_err(|e| ComposeError::Encode(e.into()))
    };
    // Optimizing copies the whole component anyway, and the embedding form keeps each
    // input's component type as an unused type that would cost size there.
    if options.optimize.is_none() && input_bytes >= options.embed_by_reference_from {
        let imported = encode(false)?;
        let imports = import_names(&imported)?
            .into_iter()
            .filter(|name| !embedded.contains_key(name))
            .collect();
        if let Some(pieces) = crate::splice::embed(imported, embedded) {
            let chunks: Vec<&[u8]> = pieces.iter().map(|p| p.bytes(graph)).collect();
            if validate_output(&chunks, options).is_ok() {
                return Ok(Encoded { pieces, imports });
            }
        }
    }
    // The plain encoding is the reference: whatever it says about validity stands.
    let bytes = encode(true)?;
    validate_output(&[&bytes], options)?;
    Ok(Encoded {
        imports: import_names(&bytes)?,
        pieces: vec![Piece::Bytes(bytes)],
    })
}

fn validate_output(chunks: &[&[u8]], options: &ComposeOptions) -> Result<(), ComposeError> {
    let check = |features| {
        crate::validate::chunks::validate_chunks(chunks, features)
            .map_err(|e| ComposeError::InvalidOutput(e.to_string()))
    };
    match options.features {
        Some(features) => check(features),
        // wac already validated every input with all features on. An output that only passes
        // that way inherits a need some input had; composition itself adds no new feature.
        None => check(wasmparser::WasmFeatures::default())
            .or_else(|_| check(wasmparser::WasmFeatures::all())),
    }
}

fn import_names(encoded: &[u8]) -> Result<Vec<String>, ComposeError> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(encoded) {
        match payload.map_err(|e| ComposeError::InvalidOutput(e.to_string()))? {
            wasmparser::Payload::ComponentImportSection(reader) => {
                for import in reader {
                    let import = import.map_err(|e| ComposeError::InvalidOutput(e.to_string()))?;
                    names.push(import.name.name.to_string());
                }
            }
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => break,
            _ => {}
        }
    }
    Ok(names)
}

/// The output's imports, traced back to the inputs that asked for them.
fn host_imports(names: Vec<String>, plan: &Plan) -> Vec<HostImport> {
    let mut out: Vec<HostImport> = names
        .into_iter()
        .map(|name| HostImport {
            name,
            wanted_by: Vec::new(),
        })
        .collect();
    for unfilled in &plan.unfilled {
        // Not found by exact name means the encoder merged it into another semver version.
        let position = out
            .iter()
            .position(|h| h.name == unfilled.import)
            .or_else(|| {
                out.iter()
                    .position(|h| are_semver_compatible(&h.name, &unfilled.import))
            });
        if let Some(i) = position {
            out[i].wanted_by.push(Want {
                input: unfilled.consumer_name.clone(),
                import: unfilled.import.clone(),
            });
        }
    }
    out
}
