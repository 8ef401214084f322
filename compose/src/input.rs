//! Decoding and classifying inputs before anything else looks at them, so that every later step
//! can assume it holds a well-formed artifact of the kind it expects.

use crate::nesting::Walk;
use std::fmt;
use wasmparser::{ComponentExternalKind, Payload};

/// What a file turned out to be once its header and structure were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// A core WebAssembly module (layer 0).
    CoreModule,
    /// A component with instantiable contents.
    Component,
    /// A component that only carries WIT type definitions (`wasm-tools component wit --wasm`).
    WitPackage,
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArtifactKind::CoreModule => "a core WebAssembly module",
            ArtifactKind::Component => "a WebAssembly component",
            ArtifactKind::WitPackage => "a binary WIT package",
        })
    }
}

/// A file that is not a WebAssembly artifact, or is too damaged to say what it is.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// No `\0asm` magic bytes.
    #[error(
        "`{name}` is not a WebAssembly file: expected the `\\0asm` magic bytes, found {found}. \
         Pass a compiled .wasm file or a .wat text file"
    )]
    NotWasm {
        /// The file's name.
        name: String,
        /// What it starts with instead.
        found: String,
    },
    /// A version or layer wtool does not know.
    #[error(
        "`{name}` has an unknown WebAssembly version or layer ({found}); \
         it may come from a newer toolchain than wtool supports"
    )]
    UnknownVersion {
        /// The file's name.
        name: String,
        /// The version and layer found.
        found: String,
    },
    /// Sections that cannot be read.
    #[error(
        "`{name}` is truncated or corrupt ({kind}): {message} at offset {offset:#x}. \
         Rebuild or re-download it"
    )]
    Malformed {
        /// The file's name.
        name: String,
        /// What its header says it is.
        kind: ArtifactKind,
        /// wasmparser's message.
        message: String,
        /// Where.
        offset: usize,
    },
}

/// What the header (magic bytes, version, layer) says `bytes` are: a core module or a
/// component. Reads nothing past the first eight bytes.
pub fn header_kind(name: &str, bytes: &[u8]) -> Result<ArtifactKind, InputError> {
    const MAGIC: &[u8] = b"\0asm";
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        let shown = bytes
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>();
        let found = if bytes.is_empty() {
            "an empty file".to_string()
        } else {
            format!("bytes `{}`", shown.join(" "))
        };
        return Err(InputError::NotWasm {
            name: name.to_string(),
            found,
        });
    }
    match (&bytes[4..6], &bytes[6..8]) {
        ([1, 0], [0, 0]) => Ok(ArtifactKind::CoreModule),
        (_, [1, 0]) => Ok(ArtifactKind::Component),
        (version, layer) => Err(InputError::UnknownVersion {
            name: name.to_string(),
            found: format!("version {version:02x?}, layer {layer:02x?}"),
        }),
    }
}

/// Reads the header and walks every section once (without validating function bodies), so
/// that a truncated file is reported as such rather than as a confusing type error later.
pub fn classify(name: &str, bytes: &[u8]) -> Result<ArtifactKind, InputError> {
    let kind = header_kind(name, bytes)?;
    let malformed = |e: wasmparser::BinaryReaderError| InputError::Malformed {
        name: name.to_string(),
        kind,
        message: e.message().to_string(),
        offset: e.offset() as usize,
    };
    let mut probe = KindProbe::default();
    let mut walk = Walk::new(bytes);
    while let Some(payload) = walk.next() {
        let payload = payload.map_err(malformed)?;
        if walk.nest().depth() == 0 {
            probe.payload(&payload).map_err(malformed)?;
        }
    }
    Ok(probe.kind(kind == ArtifactKind::Component))
}

/// Tells a binary WIT package from a component by the input's own sections (the payloads of
/// depth 0): a WIT package exports only types and holds no instances, functions or nested
/// artifacts.
#[derive(Debug, Default)]
pub(crate) struct KindProbe {
    /// Something that is not a type definition was seen.
    not_only_types: bool,
}

impl KindProbe {
    /// Looks at one payload of the input itself.
    pub fn payload(&mut self, payload: &Payload<'_>) -> Result<(), wasmparser::BinaryReaderError> {
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                self.not_only_types = true
            }
            Payload::ComponentExportSection(exports) => {
                for export in exports.clone() {
                    let export = export?;
                    self.not_only_types |= export.kind != ComponentExternalKind::Type
                        && export.kind != ComponentExternalKind::Component;
                }
            }
            Payload::ComponentInstanceSection(_)
            | Payload::InstanceSection(_)
            | Payload::ComponentCanonicalSection(_) => self.not_only_types = true,
            _ => {}
        }
        Ok(())
    }

    /// The kind, for an input whose header says `component` or not.
    pub fn kind(&self, component: bool) -> ArtifactKind {
        match (component, self.not_only_types) {
            (false, _) => ArtifactKind::CoreModule,
            (true, false) => ArtifactKind::WitPackage,
            (true, true) => ArtifactKind::Component,
        }
    }
}

/// Walks every section of `bytes` at every depth, allocating nothing: a section that claims
/// more than is left, or types nested past [`crate::type_nesting::MAX_TYPE_NESTING`], is an
/// error. Run before handing untrusted bytes to a reader that trusts them (wit-component,
/// wac-graph).
pub fn walk_all(bytes: &[u8]) -> Result<(), WalkError> {
    for payload in Walk::new(bytes) {
        let payload = payload.map_err(|e| WalkError {
            message: e.message().to_string(),
            offset: e.offset(),
        })?;
        if let wasmparser::Payload::ComponentTypeSection(section) = &payload {
            let range = section.range();
            let body = bytes
                .get(range.start as usize..range.end as usize)
                .unwrap_or_default();
            crate::type_nesting::check_section(body, range.start).map_err(|e| WalkError {
                message: e.to_string(),
                offset: e.offset,
            })?;
        }
    }
    Ok(())
}

/// Why [`walk_all`] stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at offset {offset:#x})")]
pub struct WalkError {
    /// What is wrong.
    pub message: String,
    /// Where, in the input.
    pub offset: u64,
}

/// `wit_component::decode`, after checking that every section the input declares is there.
/// The decoder reads from a reader and sizes its buffer by what the next section says it
/// holds, so an 11 KB file that claims a 500 MB section made it allocate 500 MB before it found
/// the end of the input (found by the `inspect` fuzz target). Walking the sections over the
/// bytes first allocates nothing, and stops at the first section that claims more than is left.
/// A panic in the decoder (see [`crate::unwind`]) is returned as an error.
pub fn decode_wit(bytes: &[u8]) -> anyhow::Result<wit_component::DecodedWasm> {
    walk_all(bytes)?;
    crate::unwind::catching(|| wit_component::decode(bytes)).unwrap_or_else(|panic| {
        Err(anyhow::anyhow!(
            "wit-component's decoder cannot read its types ({panic}); the input may use a \
             shape that wit-parser does not handle yet, such as a component type imported \
             as a type"
        ))
    })
}
