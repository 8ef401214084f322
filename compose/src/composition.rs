//! `compose`: classify and load inputs → plan → explain the plan (and refuse a type mismatch
//! nothing resolves) → build the wac graph → encode with the inputs embedded by reference, and
//! validate (beside hashing the inputs) → stamp provenance → optionally optimize and validate
//! again.

use crate::explain::{self, Mismatch, UnusedPlug};
use crate::input::{classify, ArtifactKind, InputError};
use crate::names;
use crate::optimize::{optimize, OptimizeError, OptimizeOptions, OptimizeReport};
use crate::output::{Output, Piece};
use crate::plan::{self, InputId, Participant, Plan, PlanError, Rule};
use crate::provenance::{self, InputDigest};
use crate::wac_document::WacDocument;
use crate::wiring::{self, DeniedImport, HostImports, Resolved, Wiring, WiringError};
use serde::Serialize;
use std::collections::HashMap;
use wac_graph::types::{Package, WorldId};
use wac_graph::{CompositionGraph, EncodeOptions, NodeId, PackageId, Processor};

/// One file handed to `compose`: the name to show in messages, and its bytes.
pub struct Input {
    /// The name messages and the report show (a path, or a registry package reference).
    pub name: String,
    /// The component's bytes.
    pub bytes: Vec<u8>,
    /// The sha256 of `bytes`, when the caller already knows it (from a lock or a cache of
    /// earlier runs); computed otherwise.
    pub sha256: Option<[u8; 32]>,
    /// The input's name in the output's name section and in the WAC document of the
    /// composition (made a WAC identifier); derived from the file name when absent.
    pub instance: Option<String>,
}

/// How to compose.
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
    /// Imports to leave for the host when no plug fills them, even though a plug exports them
    /// under the same name with another type. Without this, such a mismatch fails the
    /// composition: it is far more often a plug built against the wrong WIT than a host
    /// import on purpose. Names match on their semver track.
    pub leave_to_host: Vec<String>,
    /// The wiring the caller chose; the default plugs everything automatically.
    pub wiring: Wiring,
}

impl Default for ComposeOptions {
    fn default() -> Self {
        Self {
            features: None,
            optimize: None,
            embed_by_reference_from: 1 << 20,
            leave_to_host: Vec::new(),
            wiring: Wiring::default(),
        }
    }
}

/// What [`compose`] returns: the component, and what was done to make it.
pub struct Composition {
    /// The composed component.
    pub output: Output,
    /// What was plugged where, and what is left.
    pub report: ComposeReport,
    /// The same composition as a WAC document.
    pub document: WacDocument,
}

/// What happened, for people (the `Display` impl) and machines (`Serialize`).
#[derive(Debug, Serialize)]
pub struct ComposeReport {
    /// Every input with its digest, the socket first.
    pub inputs: Vec<InputDigest>,
    /// Which export filled which import, in the order the planner decided.
    pub links: Vec<Plugged>,
    /// Imports of the output, each with the inputs that asked for it (under the name they used).
    pub host_imports: Vec<HostImport>,
    /// Plugs that filled nothing, with the reasons why.
    pub unused_plugs: Vec<UnusedPlug>,
    /// Exports that match an import by name but not by type, where another plug filled the
    /// import or the caller left it for the host.
    pub mismatches: Vec<Mismatch>,
    /// The output's exports: the socket's.
    pub exports: Vec<String>,
    /// The output's size in bytes.
    pub size: usize,
    /// What optimization did, when it was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimized: Option<OptimizeReport>,
}

/// An import of one input filled by an export of another, by the inputs' names.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Plugged {
    /// The input whose import is filled.
    pub consumer: String,
    /// The import, as the consumer spells it.
    pub import: String,
    /// The plug that fills it.
    pub provider: String,
    /// The export that fills it, as the provider spells it.
    pub export: String,
    /// The rule that chose it.
    pub rule: Rule,
}

/// An import of the output: something the host must provide.
#[derive(Debug, Serialize)]
pub struct HostImport {
    /// The name the output imports it under.
    pub name: String,
    /// The inputs that import it.
    pub wanted_by: Vec<Want>,
}

/// One input that imports a host import.
#[derive(Debug, Serialize)]
pub struct Want {
    /// The input's name.
    pub input: String,
    /// The name this input imported; differs from the output's when semver-merged.
    pub import: String,
    /// Whether the caller kept it for the host on purpose (`--host`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub kept: bool,
    /// The plug that would have filled it, had it not been kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub could_fill: Option<String>,
}

/// Why [`compose`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// An input could not be read at all.
    #[error(transparent)]
    Input(#[from] InputError),
    /// An input is a core module or a WIT package.
    #[error(
        "`{name}` is {kind}, but compose needs a component. {hint}",
        hint = kind_hint(*.kind)
    )]
    NotAComponent {
        /// The input's name.
        name: String,
        /// What it is instead.
        kind: ArtifactKind,
    },
    /// An input does not decode as a component.
    #[error("`{name}` is not a valid component: {detail}. Rebuild it, or check it with `wtool validate {name}`")]
    InvalidComponent {
        /// The input's name.
        name: String,
        /// What the decoder said.
        detail: String,
    },
    /// No plug filled any import.
    #[error("{}", nothing_plugged(.socket, .imports, .unused))]
    NothingPlugged {
        /// The socket's name.
        socket: String,
        /// The socket's imports.
        imports: Vec<String>,
        /// Every plug, with the reasons it filled nothing.
        unused: Vec<UnusedPlug>,
    },
    /// Plugs export imports under their names with other types, and nothing else fills them.
    #[error("{}", mismatched(.0))]
    TypeMismatch(Vec<Mismatch>),
    /// The plan itself failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The caller's wiring does not fit the inputs (boxed: it is the largest error).
    #[error(transparent)]
    Wiring(Box<WiringError>),
    /// wac refused a planned link.
    #[error("linking `{consumer}` import `{import}` to `{provider}` failed: {detail}")]
    Link {
        /// The input whose import is filled.
        consumer: String,
        /// The import.
        import: String,
        /// The plug that fills it.
        provider: String,
        /// What wac said.
        detail: String,
    },
    /// Optimizing the composition failed.
    #[error(transparent)]
    Optimize(Box<OptimizeError>),
    /// wac could not encode the graph.
    #[error("encoding the composition failed: {0:#}")]
    Encode(anyhow::Error),
    /// The encoded composition does not validate.
    #[error(
        "the composed component does not validate ({0}); this is a bug in wtool, please report \
         it with the inputs"
    )]
    InvalidOutput(String),
}

impl From<WiringError> for ComposeError {
    fn from(e: WiringError) -> Self {
        ComposeError::Wiring(Box::new(e))
    }
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

fn mismatched(mismatches: &[Mismatch]) -> String {
    let mut msg = String::from("no plug fills an import that a plug exports with another type:");
    for m in mismatches {
        msg += &format!(
            "\n    - the export `{}` of `{}` matches the import `{}` of `{}` by name, but not \
             by type: {}",
            m.export, m.plug, m.import, m.consumer, m.detail
        );
    }
    msg += "\n  Rebuild the plug against the same WIT as the importer, or leave the import for \
            the host on purpose (`--leave-to-host IMPORT`)";
    msg
}

/// Plugs the exports of `plugs` into the imports of `socket` (and of each other), and encodes
/// the result. The output exports what the socket exports, and imports what nothing filled.
pub fn compose(
    socket: Input,
    plugs: Vec<Input>,
    options: &ComposeOptions,
) -> Result<Composition, ComposeError> {
    let Registered { mut graph, members } = load(socket, plugs)?;
    let participants: Vec<Participant> = members.iter().map(Member::participant).collect();
    let wiring = wiring::resolve(graph.types(), &participants, &options.wiring)?;
    let plan = plan::plan(graph.types(), &participants, &wiring)?;
    let findings = Findings::of(graph.types(), &participants, &plan, &wiring, options)?;
    check_host_imports(&plan, &participants, &options.wiring)?;
    let exports = wire(&mut graph, &members, &plan, &wiring)?;
    let document = WacDocument::new(
        &plan,
        &members
            .iter()
            .map(|m| (m.package_name.as_str(), m.instance_name.as_str()))
            .collect::<Vec<_>>(),
        &exports,
    );

    let embedded: Vec<GraphInput> = members
        .iter()
        .map(|m| GraphInput {
            package: m.package,
            role: m.role.name(),
            name: m.file.clone(),
            sha256: m.known,
        })
        .collect();
    let Encoded {
        output,
        digests,
        imports,
        optimized,
    } = encode_graph(graph, &embedded, options)?;

    let name = |id: InputId| members[id.index()].name.clone();
    Ok(Composition {
        report: ComposeReport {
            inputs: digests,
            links: plan
                .links
                .iter()
                .map(|link| Plugged {
                    consumer: name(link.consumer),
                    import: link.import.clone(),
                    provider: name(link.provider),
                    export: link.export.clone(),
                    rule: link.rule,
                })
                .collect(),
            host_imports: host_imports(imports, &plan, &members),
            unused_plugs: findings.unused,
            mismatches: findings.mismatches,
            exports: exports.into_iter().map(|(_, name)| name).collect(),
            size: output.len(),
            optimized,
        },
        output,
        document,
    })
}

/// Whether an input is the socket or a plug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Socket,
    Plug,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Socket => "socket",
            Role::Plug => "plug",
        }
    }
}

/// One input, registered in the graph: everything compose knows of it.
struct Member {
    role: Role,
    /// The name messages show.
    name: String,
    /// The name the caller gave the input's bytes (a path): what provenance records.
    file: String,
    /// The package's name in the graph, `socket:app` or `plug:logger`.
    package_name: String,
    /// The name its instance gets in the output's name section: the file stem, made unique.
    instance_name: String,
    package: PackageId,
    world: WorldId,
    /// The digest of its bytes, when the caller knew it.
    known: Option<[u8; 32]>,
}

impl Member {
    fn participant(&self) -> Participant<'_> {
        Participant {
            name: &self.name,
            world: self.world,
        }
    }
}

/// The inputs registered in one graph's type arena, the socket first.
struct Registered {
    graph: CompositionGraph,
    members: Vec<Member>,
}

/// Classifies and decodes every input into one graph's type arena.
fn load(socket: Input, plugs: Vec<Input>) -> Result<Registered, ComposeError> {
    let inputs: Vec<(Role, Input)> = std::iter::once((Role::Socket, socket))
        .chain(plugs.into_iter().map(|plug| (Role::Plug, plug)))
        .collect();
    let stems = unique_stems(
        inputs
            .iter()
            .map(|(_, input)| input.instance.as_deref().unwrap_or(&input.name)),
    );
    let mut graph = CompositionGraph::new();
    let mut members = Vec::with_capacity(inputs.len());
    for ((role, input), stem) in inputs.into_iter().zip(stems) {
        match classify(&input.name, &input.bytes)? {
            ArtifactKind::Component => {}
            kind => {
                return Err(ComposeError::NotAComponent {
                    name: input.name,
                    kind,
                })
            }
        }
        let package_name = format!("{}:{stem}", role.name());
        // The same bytes twice (one middleware at several places in a chain) are one package
        // with several instances: the output holds the component once, and it is decoded once.
        let same = members.iter().find(|m: &&Member| {
            let earlier = graph[m.package].bytes();
            earlier.len() == input.bytes.len() && earlier[..] == input.bytes[..]
        });
        let (package, world) = match same {
            Some(m) => (m.package, m.world),
            None => {
                // wac-graph reads the types recursively: bound their nesting first.
                crate::input::walk_all(&input.bytes).map_err(|e| {
                    ComposeError::InvalidComponent {
                        name: input.name.clone(),
                        detail: e.to_string(),
                    }
                })?;
                // The bytes move into the package: a second copy of an 18 MB input would push
                // peak memory past twice the input size.
                let package =
                    Package::from_bytes(&package_name, None, input.bytes, graph.types_mut())
                        .map_err(|e| ComposeError::InvalidComponent {
                            name: input.name.clone(),
                            detail: format!("{e:#}"),
                        })?;
                let world = package.ty();
                let package = graph
                    .register_package(package)
                    .map_err(|e| ComposeError::Encode(e.into()))?;
                (package, world)
            }
        };
        // An input the caller named apart from its file shows both, so that the same file
        // under two names reads as two inputs.
        let label = match &input.instance {
            Some(instance) if *instance != file_stem(&input.name) => {
                format!("{instance}={}", input.name)
            }
            _ => input.name.clone(),
        };
        members.push(Member {
            role,
            name: label,
            file: input.name,
            package_name,
            instance_name: stem,
            package,
            world,
            known: input.sha256,
        });
    }
    Ok(Registered { graph, members })
}

/// Instance and package names only reach the output's name section (and the WAC document),
/// so they are derived from the caller's names or file stems (made unique WAC identifiers),
/// never from paths: the same inputs in another directory give the same bytes.
fn unique_stems<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let stems: Vec<String> = names.map(|name| wac_identifier(file_stem(name))).collect();
    stems
        .iter()
        .enumerate()
        .map(|(i, stem)| {
            if stems.iter().filter(|s| *s == stem).count() > 1 {
                format!("{stem}{i}")
            } else {
                stem.clone()
            }
        })
        .collect()
}

/// The file name of a path without its `.wasm` or `.wat` extension.
fn file_stem(path: &str) -> &str {
    let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
    match file.rsplit_once('.') {
        Some((stem, "wasm" | "wat")) => stem,
        _ => file,
    }
}

/// `name` as a WAC identifier: lower-case words of letters and digits joined by `-`, each
/// starting with a letter. A word that starts with a digit joins the one before it
/// (`logger-0.1.3` → `logger013`).
pub(crate) fn wac_identifier(name: &str) -> String {
    let lower: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let mut words: Vec<String> = Vec::new();
    for word in lower.split('-').filter(|w| !w.is_empty()) {
        match words.last_mut() {
            Some(last) if word.starts_with(|c: char| c.is_ascii_digit()) => last.push_str(word),
            _ if word.starts_with(|c: char| c.is_ascii_digit()) => {
                words.push(format!("input{word}"))
            }
            _ => words.push(word.to_string()),
        }
    }
    if words.is_empty() {
        "input".to_string()
    } else {
        words.join("-")
    }
}

/// What the explanations of a plan say, once they did not fail the composition.
struct Findings {
    unused: Vec<UnusedPlug>,
    /// Mismatches that are warnings: another plug filled the import, or the caller left it
    /// for the host.
    mismatches: Vec<Mismatch>,
}

impl Findings {
    fn of(
        types: &wac_graph::types::Types,
        participants: &[Participant<'_>],
        plan: &Plan,
        wiring: &Resolved,
        options: &ComposeOptions,
    ) -> Result<Findings, ComposeError> {
        let unused = explain::unused(types, participants, plan, wiring);
        if plan.links.is_empty() && participants.len() > 1 {
            return Err(ComposeError::NothingPlugged {
                socket: participants[InputId::SOCKET.index()].name.to_string(),
                imports: types[participants[InputId::SOCKET.index()].world]
                    .imports
                    .keys()
                    .cloned()
                    .collect(),
                unused,
            });
        }
        let (mismatches, fatal): (Vec<Mismatch>, Vec<Mismatch>) =
            explain::mismatches(participants, plan)
                .into_iter()
                .partition(|m| {
                    m.filled_by.is_some()
                        || m.kept
                        || options
                            .leave_to_host
                            .iter()
                            .any(|name| names::matches(name, &m.import))
                });
        if !fatal.is_empty() {
            return Err(ComposeError::TypeMismatch(fatal));
        }
        Ok(Findings { unused, mismatches })
    }
}

/// Instantiates every used input once, wires the planned links, and exports what the socket
/// exports and the re-exports the caller asked for. Returns those exports, by instance and
/// name.
///
/// Nodes are added in the order a WAC document binds them (see [`WacDocument`]): each
/// input after the plugs it links to, its arguments' aliases just before it. The encoding
/// follows the order of the nodes, so the document composes to the same bytes.
fn wire(
    graph: &mut CompositionGraph,
    members: &[Member],
    plan: &Plan,
    wiring: &Resolved,
) -> Result<Vec<(InputId, String)>, ComposeError> {
    let mut instances: HashMap<InputId, NodeId> = HashMap::with_capacity(plan.used.len());
    for input in plan.instantiation_order() {
        let links: Vec<_> = plan.links.iter().filter(|l| l.consumer == input).collect();
        let mut arguments = Vec::with_capacity(links.len());
        for link in &links {
            let alias = graph
                .alias_instance_export(instances[&link.provider], &link.export)
                .map_err(|e| link_failed(members, link, e.into()))?;
            arguments.push(alias);
        }
        let member = &members[input.index()];
        let node = graph.instantiate(member.package);
        graph.set_node_name(node, &member.instance_name);
        instances.insert(input, node);
        for (link, alias) in links.iter().zip(arguments) {
            graph
                .set_instantiation_argument(node, &link.import, alias)
                .map_err(|e| link_failed(members, link, e.into()))?;
        }
    }
    let socket = &members[InputId::SOCKET.index()];
    let mut exports: Vec<(InputId, String)> = graph.types()[socket.world]
        .exports
        .keys()
        .map(|name| (InputId::SOCKET, name.clone()))
        .collect();
    for (plug, name) in &wiring.exports {
        if let Some((by, _)) = exports.iter().find(|(_, e)| e == name) {
            return Err(WiringError::ExportTaken {
                plug: members[plug.index()].name.clone(),
                export: name.clone(),
                by: members[by.index()].name.clone(),
            }
            .into());
        }
        exports.push((*plug, name.clone()));
    }
    for (input, name) in &exports {
        let alias = graph
            .alias_instance_export(instances[input], name)
            .map_err(|e| ComposeError::Encode(e.into()))?;
        graph
            .export(alias, name)
            .map_err(|e| ComposeError::Encode(e.into()))?;
    }
    Ok(exports)
}

fn link_failed(members: &[Member], link: &plan::Link, e: anyhow::Error) -> ComposeError {
    ComposeError::Link {
        consumer: members[link.consumer.index()].name.clone(),
        import: link.import.clone(),
        provider: members[link.provider.index()].name.clone(),
        detail: format!("{e:#}"),
    }
}

/// Fails when the caller allows only some host imports and the plan leaves others.
fn check_host_imports(
    plan: &Plan,
    inputs: &[Participant<'_>],
    wiring: &Wiring,
) -> Result<(), ComposeError> {
    let HostImports::Only(allowed) = &wiring.host_imports else {
        return Ok(());
    };
    let mut denied: Vec<DeniedImport> = Vec::new();
    for unfilled in &plan.unfilled {
        if unfilled.kept || allowed.iter().any(|a| names::allows(a, &unfilled.import)) {
            continue;
        }
        let by = inputs[unfilled.consumer.index()].name.to_string();
        match denied
            .iter_mut()
            .find(|d| names::matches(&d.import, &unfilled.import))
        {
            Some(d) => d.wanted_by.push(by),
            None => denied.push(DeniedImport {
                import: unfilled.import.clone(),
                wanted_by: vec![by],
            }),
        }
    }
    if denied.is_empty() {
        Ok(())
    } else {
        Err(WiringError::HostImportsDenied(denied).into())
    }
}

/// The encoded composition, before provenance is stamped on it.
enum Body {
    /// wac's plain encoding, with the inputs copied in.
    Plain(Vec<u8>),
    /// Encoded sections with the inputs' bytes between them, by reference.
    Spliced(Vec<Piece>),
}

/// The encoded body and the output's imports.
fn encode_and_validate(
    graph: &CompositionGraph,
    inputs: &[GraphInput],
    options: &ComposeOptions,
) -> Result<(Body, Vec<String>), ComposeError> {
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
    let embedded: HashMap<String, (PackageId, usize)> = inputs
        .iter()
        .map(|i| {
            let package = &graph[i.package];
            (
                crate::splice::import_name(package.name(), package.version()),
                (i.package, package.bytes().len()),
            )
        })
        .collect();
    let input_bytes: usize = embedded.values().map(|&(_, len)| len).sum();
    // Optimizing copies the whole component anyway, and the embedding form keeps each
    // input's component type as an unused type that would cost size there.
    if options.optimize.is_none() && input_bytes >= options.embed_by_reference_from {
        let imported = encode(false)?;
        let imports = import_names(&imported)?
            .into_iter()
            .filter(|name| !embedded.contains_key(name))
            .collect();
        if let Some(pieces) = crate::splice::embed(imported, &embedded) {
            let chunks: Vec<&[u8]> = pieces.iter().map(|p| p.bytes(graph)).collect();
            if validate_output(&chunks, options).is_ok() {
                return Ok((Body::Spliced(pieces), imports));
            }
        }
    }
    // The plain encoding is the reference: whatever it says about validity stands.
    let bytes = encode(true)?;
    validate_output(&[&bytes], options)?;
    let imports = import_names(&bytes)?;
    Ok((Body::Plain(bytes), imports))
}

/// Inputs are decoded for their types, not validated, so an input with a broken function body
/// first shows up as an invalid output. Before calling that a bug of wtool's, each input is
/// validated (only then, so the common case pays nothing), and the first invalid one is named.
fn blame_an_input(
    e: ComposeError,
    graph: &CompositionGraph,
    inputs: &[GraphInput],
) -> ComposeError {
    if !matches!(e, ComposeError::InvalidOutput(_)) {
        return e;
    }
    for input in inputs {
        let bytes = graph[input.package].bytes();
        if let Err(invalid) =
            wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                .validate_all(bytes)
        {
            return ComposeError::InvalidComponent {
                name: input.name.clone(),
                detail: invalid.to_string(),
            };
        }
    }
    e
}

fn validate_output(chunks: &[&[u8]], options: &ComposeOptions) -> Result<(), ComposeError> {
    let check = |features| {
        crate::validate::chunks::validate_chunks(chunks, features)
            .map_err(|e| ComposeError::InvalidOutput(e.to_string()))
    };
    match options.features {
        Some(features) => check(features),
        // An output that only passes with every feature on inherits a need some input had;
        // composition itself adds no new feature.
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
fn host_imports(imports: Vec<String>, plan: &Plan, members: &[Member]) -> Vec<HostImport> {
    let mut out: Vec<HostImport> = imports
        .into_iter()
        .map(|name| HostImport {
            name,
            wanted_by: Vec::new(),
        })
        .collect();
    for unfilled in &plan.unfilled {
        // Not found by exact name means the encoder merged it into another semver version.
        let position = names::position(out.iter().map(|h| h.name.as_str()), &unfilled.import);
        if let Some(i) = position {
            out[i].wanted_by.push(Want {
                input: members[unfilled.consumer.index()].name.clone(),
                import: unfilled.import.clone(),
                kept: unfilled.kept,
                could_fill: unfilled
                    .could_fill
                    .map(|plug| members[plug.index()].name.clone()),
            });
        }
    }
    out
}

/// A package of a graph built elsewhere (from a WAC document), as the provenance section
/// records it.
#[derive(Clone, Debug)]
pub struct GraphInput {
    /// The package in the graph.
    pub package: PackageId,
    /// `socket`, `plug` or `package`.
    pub role: &'static str,
    /// The input's name; its file name reaches the provenance section.
    pub name: String,
    /// Its digest, when the caller knows it.
    pub sha256: Option<[u8; 32]>,
}

/// An encoded, validated and stamped composition.
pub struct Encoded {
    /// The component.
    pub output: Output,
    /// What the provenance section records, in the order of the inputs given.
    pub digests: Vec<InputDigest>,
    /// The output's imports, in order.
    pub imports: Vec<String>,
    /// What optimization did, when it was asked for.
    pub optimized: Option<OptimizeReport>,
}

/// Encodes `graph` with the packages of `inputs` embedded (by reference when they are large),
/// validates it, stamps the provenance of `inputs` on it, and optimizes it when asked: the end
/// of [`compose`], and of composing a WAC document, so that both give the same bytes for the
/// same graph.
pub fn encode_graph(
    graph: CompositionGraph,
    inputs: &[GraphInput],
    options: &ComposeOptions,
) -> Result<Encoded, ComposeError> {
    // Hashing 18 MB costs as much as validating it, so it runs beside encoding and validation.
    let hash = || {
        inputs
            .iter()
            .map(|i| InputDigest::new(i.role, &i.name, graph[i.package].bytes(), i.sha256))
            .collect::<Vec<_>>()
    };
    let encode = || encode_and_validate(&graph, inputs, options);
    let input_bytes = inputs.iter().map(|i| graph[i.package].bytes().len()).sum();
    let (digests, encoded) = if crate::validate::chunks::worth_parallel(input_bytes) {
        rayon::join(hash, encode)
    } else {
        (hash(), encode())
    };
    let (body, imports) = encoded.map_err(|e| blame_an_input(e, &graph, inputs))?;
    // A custom section cannot change what the validated component means or whether it is
    // valid, so stamping after validation keeps the hashing off the critical path.
    let mut output = match body {
        Body::Plain(mut bytes) => {
            provenance::stamp(&mut bytes, &digests);
            Output::from(bytes)
        }
        Body::Spliced(mut pieces) => {
            if !matches!(pieces.last(), Some(Piece::Bytes(_))) {
                pieces.push(Piece::Bytes(Vec::new()));
            }
            if let Some(Piece::Bytes(last)) = pieces.last_mut() {
                provenance::stamp(last, &digests);
            }
            Output::spliced(graph, pieces)
        }
    };
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
    Ok(Encoded {
        output,
        digests,
        imports,
        optimized,
    })
}

#[cfg(test)]
mod tests;
