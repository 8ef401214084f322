//! A bound on how deep component and instance types nest, checked without recursion before
//! anything else reads them.
//!
//! wasmparser 0.258 reads the declarations of a component or instance type recursively and
//! without a bound (0.263 stops at 100 levels). So a 30 KB component whose component and instance
//! types nest 10,000 deep overflowed the stack of everything that read it: `wtool validate`,
//! `inspect`, `compose`, and the registry's content policy, where a stack overflow aborts the
//! whole server. Found by the `inspect` fuzz target. Every reader of untrusted bytes checks
//! each component type section here first.

use std::fmt;
use wasmparser::{
    BinaryReader, ComponentAlias, ComponentExternName, ComponentImport, ComponentType,
    ComponentTypeRef, CoreType, Payload, WasmFeatures,
};

/// How deep component and instance types may nest: wasmparser 0.263's bound.
pub const MAX_TYPE_NESTING: usize = 100;

/// Types nested past [`MAX_TYPE_NESTING`], and where the level past it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooDeep {
    /// Input offset of the type that opens the level past the bound.
    pub offset: u64,
}

impl fmt::Display for TooDeep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "component and instance types nest deeper than the limit of {MAX_TYPE_NESTING} levels"
        )
    }
}

impl std::error::Error for TooDeep {}

/// Checks `payload` when it is a component type section whose bytes (id and size first) are
/// `raw`; every other payload passes.
pub fn check_payload(payload: &Payload<'_>, raw: &[u8]) -> Result<(), TooDeep> {
    let Payload::ComponentTypeSection(section) = payload else {
        return Ok(());
    };
    let range = section.range();
    let len = (range.end - range.start) as usize;
    match raw.len().checked_sub(len) {
        Some(start) => check_section(&raw[start..], range.start),
        None => Ok(()),
    }
}

/// Checks the body of a component type section (its count first), at input offset `offset`.
/// Only nesting is refused here: anything else that does not read is left for the parser to
/// report, since it stops there too and so never goes deeper than this walk did.
pub fn check_section(body: &[u8], offset: u64) -> Result<(), TooDeep> {
    let mut reader = BinaryReader::new_features(body, offset, WasmFeatures::all());
    let Ok(count) = reader.read_var_u32() else {
        return Ok(());
    };
    for _ in 0..count {
        match component_type(&mut reader) {
            Walk::Read => {}
            Walk::TooDeep(offset) => return Err(TooDeep { offset }),
            Walk::Unreadable => return Ok(()),
        }
    }
    Ok(())
}

enum Walk {
    Read,
    TooDeep(u64),
    Unreadable,
}

/// Walks one type, keeping the open component and instance types on a stack of their own.
fn component_type(reader: &mut BinaryReader<'_>) -> Walk {
    // Per open level: declarations left, and whether it is a component type (which may import).
    let mut open: Vec<(u32, bool)> = Vec::new();
    loop {
        let at = reader.original_position();
        let Ok(first) = reader.clone().read_u8() else {
            return Walk::Unreadable;
        };
        if first == 0x41 || first == 0x42 {
            if open.len() >= MAX_TYPE_NESTING {
                return Walk::TooDeep(at);
            }
            let _ = reader.read_u8();
            let Ok(count) = reader.read_var_u32() else {
                return Walk::Unreadable;
            };
            open.push((count, first == 0x41));
        } else if reader.read::<ComponentType>().is_err() {
            // Any other type holds no types, so reading it whole recurses no deeper.
            return Walk::Unreadable;
        }
        // Declarations up to the next one that is a type, or until every level is closed.
        loop {
            let Some((left, component)) = open.last_mut() else {
                return Walk::Read;
            };
            if *left == 0 {
                open.pop();
                continue;
            }
            *left -= 1;
            let component = *component;
            let read = match reader.read_u8() {
                Ok(0x00) => reader.read::<CoreType>().map(drop),
                Ok(0x01) => break,
                Ok(0x02) => reader.read::<ComponentAlias>().map(drop),
                Ok(0x03) if component => reader.read::<ComponentImport>().map(drop),
                Ok(0x04) => reader
                    .read::<ComponentExternName>()
                    .and_then(|_| reader.read::<ComponentTypeRef>())
                    .map(drop),
                _ => return Walk::Unreadable,
            };
            if read.is_err() {
                return Walk::Unreadable;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component whose one type nests component and instance types `depth` deep.
    fn nested(depth: usize) -> Vec<u8> {
        // Outermost first: each level is a component or instance type with one declaration,
        // a type; the innermost is an empty instance type.
        let mut ty = Vec::with_capacity(3 * depth + 2);
        for i in 0..depth {
            ty.extend_from_slice(&[if i % 2 == 0 { 0x41 } else { 0x42 }, 0x01, 0x01]);
        }
        ty.extend_from_slice(&[0x42, 0x00]);
        let mut section = vec![0x01];
        section.extend(ty);
        let mut out = b"\0asm\x0d\0\x01\0".to_vec();
        out.push(0x07);
        leb(&mut out, section.len());
        out.extend(section);
        out
    }

    fn leb(out: &mut Vec<u8>, mut n: usize) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn check(bytes: &[u8]) -> Result<(), TooDeep> {
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            let payload = payload.unwrap();
            if let Payload::ComponentTypeSection(s) = &payload {
                let r = s.range();
                check_section(&bytes[r.start as usize..r.end as usize], r.start)?;
            }
        }
        Ok(())
    }

    #[test]
    fn types_nested_past_the_bound_are_refused_without_recursion() {
        assert!(check(&nested(99)).is_ok());
        assert!(check(&nested(100)).is_err());
        let e = check(&nested(1_000_000)).unwrap_err();
        assert!(
            e.to_string().contains("than the limit of 100 levels"),
            "{e}"
        );
    }

    #[test]
    fn real_components_pass() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/components");
        for name in [
            "app.wasm",
            "logger.wasm",
            "py-logger.wasm",
            "go-logger.wasm",
        ] {
            let bytes = std::fs::read(root.join(name)).unwrap();
            check(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
