//! Publishing policies: what content is accepted, and which signing keys may publish without a
//! token.

use indexmap::{IndexMap, IndexSet};
use serde::{Deserialize, Serialize};
use warg_crypto::signing::KeyID;
use warg_protocol::{
    package::{PackageEntry, PackageRecord},
    registry::PackageName,
    ProtoEnvelope,
};
use wasmparser::{
    Chunk, Encoding, FuncValidatorAllocations, Parser, Payload, ValidPayload, Validator,
    WasmFeatures,
};

/// Why content was refused; the message is shown to the publisher.
#[derive(Debug, thiserror::Error)]
pub enum ContentRejection {
    #[error("content is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("content is not valid WebAssembly: {0}")]
    Invalid(String),
    #[error("content is a core WebAssembly module; only components and WIT packages are accepted")]
    CoreModule,
    #[error("content is empty")]
    Empty,
}

#[derive(Clone, Debug)]
pub struct ContentPolicy {
    pub max_bytes: u64,
    /// Off only when an operator explicitly opts out of validation.
    pub validate_wasm: bool,
    pub allow_core_modules: bool,
}

impl ContentPolicy {
    pub fn stream(&self) -> ContentCheck {
        ContentCheck {
            policy: self.clone(),
            seen: 0,
            buffer: Vec::new(),
            parser: Parser::new(0),
            stack: Vec::new(),
            validator: Validator::new_with_features(WasmFeatures::all()),
            allocs: FuncValidatorAllocations::default(),
            done: false,
        }
    }
}

/// Validates content chunk by chunk, so memory stays flat in the size of the blob.
pub struct ContentCheck {
    policy: ContentPolicy,
    seen: u64,
    buffer: Vec<u8>,
    parser: Parser,
    stack: Vec<Parser>,
    validator: Validator,
    allocs: FuncValidatorAllocations,
    done: bool,
}

impl ContentCheck {
    pub fn check(&mut self, bytes: &[u8]) -> Result<(), ContentRejection> {
        self.seen += bytes.len() as u64;
        if self.seen > self.policy.max_bytes {
            return Err(ContentRejection::TooLarge {
                limit: self.policy.max_bytes,
            });
        }
        if self.policy.validate_wasm {
            self.process(bytes, false)?;
        }
        Ok(())
    }

    pub fn finish(&mut self) -> Result<(), ContentRejection> {
        if self.seen == 0 {
            return Err(ContentRejection::Empty);
        }
        if self.policy.validate_wasm {
            self.process(&[], true)?;
            if !self.done {
                return Err(ContentRejection::Invalid(
                    "unexpected end of content".into(),
                ));
            }
        }
        Ok(())
    }

    fn process(&mut self, bytes: &[u8], eof: bool) -> Result<(), ContentRejection> {
        let invalid = |e: wasmparser::BinaryReaderError| ContentRejection::Invalid(e.to_string());
        if self.done {
            if bytes.is_empty() {
                return Ok(());
            }
            return Err(ContentRejection::Invalid(
                "trailing bytes after the end of the component".into(),
            ));
        }
        self.buffer.extend_from_slice(bytes);
        let mut offset = 0;
        loop {
            let (payload, consumed) = match self.parser.parse(&self.buffer[offset..], eof) {
                Ok(Chunk::NeedMoreData(_)) => {
                    self.buffer.drain(..offset);
                    return Ok(());
                }
                Ok(Chunk::Parsed { consumed, payload }) => (payload, consumed),
                Err(e) => return Err(invalid(e)),
            };
            offset += consumed;
            if let Payload::Version {
                encoding: Encoding::Module,
                ..
            } = &payload
            {
                if self.stack.is_empty() && !self.policy.allow_core_modules {
                    return Err(ContentRejection::CoreModule);
                }
            }
            let finished = match self.validator.payload(&payload).map_err(invalid)? {
                ValidPayload::Ok => false,
                ValidPayload::Parser(p) => {
                    self.stack.push(std::mem::replace(&mut self.parser, p));
                    false
                }
                ValidPayload::Func(func, body) => {
                    let allocs = std::mem::take(&mut self.allocs);
                    let mut v = func.into_validator(allocs);
                    v.validate(&body).map_err(invalid)?;
                    self.allocs = v.into_allocations();
                    false
                }
                ValidPayload::End(_) => match self.stack.pop() {
                    Some(parent) => {
                        self.parser = parent;
                        false
                    }
                    None => true,
                },
            };
            if finished {
                self.done = true;
                let rest = self.buffer.len() - offset;
                self.buffer.clear();
                if rest > 0 {
                    return Err(ContentRejection::Invalid(
                        "trailing bytes after the end of the component".into(),
                    ));
                }
                return Ok(());
            }
        }
    }
}

/// `[namespace.<ns>]` / `[package."<ns>:<name>"]` tables listing key ids that may publish
/// without a token (the same shape as warg-server's authorized-keys file).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizedKeys {
    #[serde(default, rename = "namespace")]
    pub namespaces: IndexMap<String, KeyList>,
    #[serde(default, rename = "package")]
    pub packages: IndexMap<String, KeyList>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyList {
    pub keys: IndexSet<String>,
    /// Lets any key that the package log itself authorises submit non-init entries.
    #[serde(default)]
    pub delegation: bool,
}

impl AuthorizedKeys {
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.packages.is_empty()
    }

    /// Whether the record's signer is listed for this package (package entries win over the
    /// namespace's). `None` means no list applies.
    pub fn allows(
        &self,
        name: &PackageName,
        record: &ProtoEnvelope<PackageRecord>,
    ) -> Option<bool> {
        let list = self
            .packages
            .get(name.as_ref())
            .or_else(|| self.namespaces.get(name.namespace()))?;
        let signer: &KeyID = record.key_id();
        let listed = list.keys.contains(&signer.to_string());
        Some(record.as_ref().entries.iter().all(|entry| {
            let is_init = matches!(entry, PackageEntry::Init { .. });
            listed || (list.delegation && !is_init)
        }))
    }
}
