//! Recording what went into an output: the sha256 of every input, in a custom section.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Name of the custom section holding the provenance JSON.
pub const SECTION: &str = "wtool-provenance";

/// One input of a composition, as the provenance section records it.
#[derive(Clone, Debug, Serialize)]
pub struct InputDigest {
    /// `socket` or `plug`.
    pub role: &'static str,
    /// The file name only: a path would make the output depend on where it was built.
    pub file: String,
    /// The sha256 of its bytes, in hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: usize,
}

impl InputDigest {
    /// Records the input `name` with `bytes`, hashing them unless the digest is `known`.
    pub fn new(role: &'static str, name: &str, bytes: &[u8], known: Option<[u8; 32]>) -> Self {
        let file = name.rsplit(['/', '\\']).next().unwrap_or(name).to_string();
        let sha256: [u8; 32] = known.unwrap_or_else(|| Sha256::digest(bytes).into());
        Self {
            role,
            file,
            sha256: hex::encode(sha256),
            size: bytes.len(),
        }
    }
}

/// Appends the provenance section. Components may carry custom sections anywhere, and the
/// end keeps every index in the encoded output unchanged.
pub fn stamp(component: &mut Vec<u8>, inputs: &[InputDigest]) {
    #[derive(Serialize)]
    struct Provenance<'a> {
        tool: &'a str,
        version: &'a str,
        inputs: &'a [InputDigest],
    }
    let json = serde_json::to_vec(&Provenance {
        tool: "wtool",
        version: env!("CARGO_PKG_VERSION"),
        inputs,
    })
    .expect("provenance serializes");
    let section = wasm_encoder::CustomSection {
        name: SECTION.into(),
        data: json.into(),
    };
    component.push(wasm_encoder::ComponentSectionId::CoreCustom.into());
    wasm_encoder::Encode::encode(&section, component);
}
