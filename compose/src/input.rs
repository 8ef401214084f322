//! Decoding and classifying inputs before anything else looks at them, so that every later step
//! can assume it holds a well-formed artifact of the kind it expects.

use std::fmt;

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

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "`{name}` is not a WebAssembly file: expected the `\\0asm` magic bytes, found {found}. \
         Pass a compiled .wasm file or a .wat text file"
    )]
    NotWasm { name: String, found: String },
    #[error(
        "`{name}` has an unknown WebAssembly version or layer ({found}); \
         it may come from a newer toolchain than wtool supports"
    )]
    UnknownVersion { name: String, found: String },
    #[error(
        "`{name}` is truncated or corrupt ({kind}): {message} at offset {offset:#x}. \
         Rebuild or re-download it"
    )]
    Malformed {
        name: String,
        kind: ArtifactKind,
        message: String,
        offset: usize,
    },
}

/// Reads the header and walks every section once (without validating function bodies), so
/// that a truncated file is reported as such rather than as a confusing type error later.
pub fn classify(name: &str, bytes: &[u8]) -> Result<ArtifactKind, InputError> {
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
    let kind = match (&bytes[4..6], &bytes[6..8]) {
        ([1, 0], [0, 0]) => ArtifactKind::CoreModule,
        (_, [1, 0]) => ArtifactKind::Component,
        (version, layer) => {
            return Err(InputError::UnknownVersion {
                name: name.to_string(),
                found: format!("version {version:02x?}, layer {layer:02x?}"),
            })
        }
    };
    let malformed = |e: wasmparser::BinaryReaderError| InputError::Malformed {
        name: name.to_string(),
        kind,
        message: e.message().to_string(),
        offset: e.offset() as usize,
    };
    let mut only_types = kind == ArtifactKind::Component;
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        use wasmparser::Payload;
        match payload.map_err(malformed)? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                depth += 1;
                only_types = only_types && depth > 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentExportSection(exports) if depth == 0 => {
                for export in exports {
                    let export = export.map_err(malformed)?;
                    only_types &= export.kind == wasmparser::ComponentExternalKind::Type
                        || export.kind == wasmparser::ComponentExternalKind::Component;
                }
            }
            Payload::ComponentInstanceSection(_)
            | Payload::InstanceSection(_)
            | Payload::ComponentCanonicalSection(_)
                if depth == 0 =>
            {
                only_types = false
            }
            _ => {}
        }
    }
    Ok(if only_types {
        ArtifactKind::WitPackage
    } else {
        kind
    })
}
