//! The one reader of section framing: a section's id, its size and where its body lies, read
//! without decoding the body. Copying, stripping, splicing and the streaming validator's skips
//! all build on it; decoding what a section holds is wasmparser's job.

use std::fmt;
use std::ops::Range;
use wasmparser::{BinaryReader, BinaryReaderError, CustomSectionReader};

/// Bytes that are not a well-framed section, with where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    message: String,
    offset: u64,
}

impl FrameError {
    /// An error `message` at `offset`.
    pub fn new(message: impl Into<String>, offset: u64) -> Self {
        Self {
            message: message.into(),
            offset,
        }
    }

    /// What is wrong, without the offset.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where, in offsets of the bytes read.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at offset {:#x})", self.message, self.offset)
    }
}

impl std::error::Error for FrameError {}

impl From<BinaryReaderError> for FrameError {
    fn from(e: BinaryReaderError) -> Self {
        Self::new(e.message(), e.offset())
    }
}

/// The id of custom sections, in modules and components alike.
pub const CUSTOM: u8 = 0;
/// The id of a core module's data section.
pub const DATA: u8 = 11;

/// The length of the preamble (`\0asm`, version, layer) of a module or component.
pub const PREAMBLE: usize = 8;

/// One section as stored.
#[derive(Clone, Debug)]
pub struct Section<'a> {
    /// The section id (`0` for custom sections).
    pub id: u8,
    /// Where the whole section (id, size, body) lies, in offsets of the bytes read.
    pub range: Range<usize>,
    /// Where the body lies.
    pub body: Range<usize>,
    /// The body.
    pub data: &'a [u8],
}

impl<'a> Section<'a> {
    /// For a custom section, its reader (name and data); `None` for other sections.
    pub fn custom(&self) -> Option<Result<CustomSectionReader<'a>, BinaryReaderError>> {
        (self.id == CUSTOM)
            .then(|| CustomSectionReader::new(BinaryReader::new(self.data, self.body.start as u64)))
    }
}

/// A section header at the start of `bytes` (which begin at offset `offset`): the id, the
/// length of the header and the length of the body. `Ok(None)` when `bytes` end inside the
/// header.
pub fn header(bytes: &[u8], offset: u64) -> Result<Option<(u8, usize, u32)>, FrameError> {
    let Some((&id, size)) = bytes.split_first() else {
        return Ok(None);
    };
    // A size cut short by the end of `bytes` may still be completed by more bytes.
    if size.len() < 5 && size.iter().all(|b| b & 0x80 != 0) {
        return Ok(None);
    }
    let mut reader = BinaryReader::new(size, offset + 1);
    let len = reader.read_var_u32()?;
    Ok(Some((id, 1 + reader.current_position(), len)))
}

/// The sections of one module or component, in order, without descending into nested ones.
pub struct Sections<'a> {
    bytes: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Sections<'a> {
    /// The sections of the module or component that occupies `range` of `bytes` (its preamble
    /// included). Offsets in what it returns are offsets in `bytes`.
    pub fn within(bytes: &'a [u8], range: Range<usize>) -> Result<Self, FrameError> {
        let artifact = bytes.get(range.clone()).unwrap_or_default();
        if artifact.len() < PREAMBLE || !artifact.starts_with(b"\0asm") {
            return Err(FrameError::new(
                "not a WebAssembly module or component",
                range.start as u64,
            ));
        }
        Ok(Self {
            bytes,
            pos: range.start + PREAMBLE,
            end: range.end,
        })
    }

    /// The sections of the module or component `artifact`.
    pub fn new(artifact: &'a [u8]) -> Result<Self, FrameError> {
        Self::within(artifact, 0..artifact.len())
    }
}

impl<'a> Iterator for Sections<'a> {
    type Item = Result<Section<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.end {
            return None;
        }
        let start = self.pos;
        let at = &self.bytes[start..self.end];
        let section = match header(at, start as u64) {
            Ok(Some((id, header, len))) if header + len as usize <= at.len() => {
                let body = start + header..start + header + len as usize;
                Ok(Section {
                    id,
                    range: start..body.end,
                    data: &self.bytes[body.clone()],
                    body,
                })
            }
            Ok(_) => Err(FrameError::new(
                "section extends past the end of the module or component",
                start as u64,
            )),
            Err(e) => Err(e),
        };
        // After an error, stop.
        self.pos = match &section {
            Ok(s) => s.range.end,
            Err(_) => self.end,
        };
        Some(section)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_framed_and_a_cut_is_an_error() {
        let module =
            wat::parse_str(r#"(module (memory 1) (data (i32.const 0) "hi") (@custom "x" "y"))"#)
                .unwrap();
        let ids: Vec<u8> = Sections::new(&module)
            .unwrap()
            .map(|s| s.unwrap().id)
            .collect();
        assert_eq!(ids, [5, 11, 0]);
        let custom = Sections::new(&module).unwrap().last().unwrap().unwrap();
        let reader = custom.custom().unwrap().unwrap();
        assert_eq!((reader.name(), reader.data()), ("x", &b"y"[..]));
        let cut = &module[..module.len() - 1];
        assert!(Sections::new(cut).unwrap().any(|s| s.is_err()));
        assert!(Sections::new(b"\0asm").is_err());
        assert_eq!(header(&[0, 0x80], 0).unwrap(), None);
        assert_eq!(header(&[11, 0x80, 1], 0).unwrap(), Some((11, 3, 128)));
    }
}
