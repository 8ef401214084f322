//! The one walker that knows the nesting: modules inside components inside components, at
//! every depth. [`Nest`] follows wasmparser's payloads (from any parser, whole-buffer or
//! streaming) and says which artifact each one belongs to and where that artifact sits;
//! [`Walk`] runs it over a buffer.

use std::fmt;
use std::ops::Range;
use wasmparser::{BinaryReaderError, Chunk, Encoding, Parser, Payload};

/// A module or component inside another, numbered in its parent's order of appearance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Nesting {
    /// Module or component.
    pub kind: NestedKind,
    /// Its position among the parent's nested artifacts of the same kind.
    pub index: u32,
}

/// The two kinds of artifact that nest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NestedKind {
    /// A core module.
    CoreModule,
    /// A component.
    Component,
}

impl fmt::Display for Nesting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            NestedKind::CoreModule => write!(f, "core module {}", self.index),
            NestedKind::Component => write!(f, "component {}", self.index),
        }
    }
}

/// One artifact met during a walk: the input, or a module or component nested in it.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The frame of the component holding it; `None` for the input.
    pub parent: Option<usize>,
    /// Its place in the parent; `None` for the input.
    pub nesting: Option<Nesting>,
    /// Module or component.
    pub encoding: Encoding,
    /// Its bytes, preamble included, in offsets of the input. The input's end is `u64::MAX`
    /// while it streams in and its length is not known.
    pub range: Range<u64>,
    modules: u32,
    components: u32,
}

/// Follows the nesting as payloads go by: call [`before`](Nest::before) with every payload
/// before looking at it and [`after`](Nest::after) once done with it. In between,
/// [`current`](Nest::current) is the frame the payload belongs to: a module section belongs
/// to its parent, the nested artifact's `Version` and `End` payloads to the nested artifact.
#[derive(Clone, Debug, Default)]
pub struct Nest {
    frames: Vec<Frame>,
    open: Vec<usize>,
    /// Set by a module or component section; taken by the `Version` payload that follows.
    pending: Option<(Nesting, Range<u64>)>,
    input_len: Option<u64>,
}

impl Nest {
    /// A nest for an input of `len` bytes, or of unknown length while it streams in.
    pub fn new(len: Option<u64>) -> Self {
        Self {
            input_len: len,
            ..Self::default()
        }
    }

    /// Takes note of `payload` before it is looked at.
    pub fn before(&mut self, payload: &Payload<'_>) {
        match payload {
            Payload::Version {
                encoding, range, ..
            } => {
                let parent = self.open.last().copied();
                let (nesting, range) = match self.pending.take() {
                    Some((nesting, range)) => (Some(nesting), range),
                    None => (None, range.start..self.input_len.unwrap_or(u64::MAX)),
                };
                self.frames.push(Frame {
                    parent,
                    nesting,
                    encoding: *encoding,
                    range,
                    modules: 0,
                    components: 0,
                });
                self.open.push(self.frames.len() - 1);
            }
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => {
                let Some(&current) = self.open.last() else {
                    return;
                };
                let frame = &mut self.frames[current];
                let (kind, counter) = match payload {
                    Payload::ModuleSection { .. } => (NestedKind::CoreModule, &mut frame.modules),
                    _ => (NestedKind::Component, &mut frame.components),
                };
                let nesting = Nesting {
                    kind,
                    index: *counter,
                };
                *counter += 1;
                self.pending = Some((nesting, unchecked_range.clone()));
            }
            _ => {}
        }
    }

    /// Takes note that `payload` was looked at.
    pub fn after(&mut self, payload: &Payload<'_>) {
        if let Payload::End(_) = payload {
            self.open.pop();
        }
    }

    /// The frame the current payload belongs to (`0` before the input's header).
    pub fn current(&self) -> usize {
        self.open.last().copied().unwrap_or(0)
    }

    /// How many artifacts enclose the current one: `0` in the input itself.
    pub fn depth(&self) -> usize {
        self.open.len().saturating_sub(1)
    }

    /// Every artifact met so far, by frame number (the order they were met in).
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// The place of the nested artifact whose module or component section is the current
    /// payload.
    pub fn entering(&self) -> Option<&Nesting> {
        self.pending.as_ref().map(|(nesting, _)| nesting)
    }

    /// The nesting from the input down to `frame`, outermost first.
    pub fn path(&self, mut frame: usize) -> Vec<Nesting> {
        let mut path = Vec::new();
        while let Some(f) = self.frames.get(frame) {
            path.extend(f.nesting.clone());
            match f.parent {
                Some(parent) => frame = parent,
                None => break,
            }
        }
        path.reverse();
        path
    }
}

/// The payloads of a buffer, at every depth, with the nesting of each.
pub struct Walk<'a> {
    data: &'a [u8],
    /// Offset in `data` of the next byte to parse.
    offset: usize,
    /// The parser of the current artifact, and those of the artifacts enclosing it.
    parser: Parser,
    parents: Vec<Parser>,
    /// The nested artifact whose section was the last payload, until the next one is asked for.
    entering: Option<(Parser, usize)>,
    done: bool,
    nest: Nest,
    /// The last payload was an `End`, to be applied when the next one is asked for.
    leave: bool,
}

impl<'a> Walk<'a> {
    /// Walks `bytes`, a module or component.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            data: bytes,
            offset: 0,
            parser: Parser::new(0),
            parents: Vec::new(),
            entering: None,
            done: false,
            nest: Nest::new(Some(bytes.len() as u64)),
            leave: false,
        }
    }

    /// Where the payload last returned sits.
    pub fn nest(&self) -> &Nest {
        &self.nest
    }

    /// Called right after a module or component section: goes on after the nested artifact
    /// instead of into it.
    pub fn skip_nested(&mut self) {
        if let Some((_, end)) = self.entering.take() {
            self.offset = end;
            self.nest.pending = None;
        }
    }
}

impl<'a> Iterator for Walk<'a> {
    type Item = Result<Payload<'a>, BinaryReaderError>;

    fn next(&mut self) -> Option<Self::Item> {
        if std::mem::take(&mut self.leave) {
            self.nest.open.pop();
        }
        if let Some((nested, _)) = self.entering.take() {
            self.parents
                .push(std::mem::replace(&mut self.parser, nested));
        }
        if self.done {
            return None;
        }
        let rest = self.data.get(self.offset..).unwrap_or_default();
        let payload = match self.parser.parse(rest, true) {
            Ok(Chunk::Parsed { consumed, payload }) => {
                self.offset += consumed;
                payload
            }
            // With the whole input at hand the parser never asks for more; an error all the same.
            Ok(Chunk::NeedMoreData(_)) => {
                self.done = true;
                let end = self.data.len() as u64;
                return Some(Err(wasmparser::BinaryReader::new(&[], end)
                    .read_u8()
                    .expect_err("reading past the end fails")));
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        match &payload {
            Payload::ModuleSection {
                parser,
                unchecked_range,
            }
            | Payload::ComponentSection {
                parser,
                unchecked_range,
            } => {
                let end = usize::try_from(unchecked_range.end).unwrap_or(usize::MAX);
                self.entering = Some((parser.clone(), end));
            }
            Payload::End(_) => match self.parents.pop() {
                Some(parent) => self.parser = parent,
                None => self.done = true,
            },
            _ => {}
        }
        self.nest.before(&payload);
        self.leave = matches!(payload, Payload::End(_));
        Some(Ok(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payload_knows_its_artifact() {
        let bytes = wat::parse_str(
            r#"(component
                (core module (func))
                (component (core module) (core module (memory 1)))
                (core module))"#,
        )
        .unwrap();
        let mut walk = Walk::new(&bytes);
        let mut memories = Vec::new();
        let mut ends = 0;
        while let Some(payload) = walk.next() {
            match payload.unwrap() {
                Payload::MemorySection(_) => {
                    memories.push((walk.nest().depth(), walk.nest().path(walk.nest().current())))
                }
                Payload::End(_) => ends += 1,
                _ => {}
            }
        }
        let frames = walk.nest().frames();
        assert_eq!((frames.len(), ends), (6, 6));
        assert_eq!(
            memories,
            [(
                2,
                vec![
                    Nesting {
                        kind: NestedKind::Component,
                        index: 0
                    },
                    Nesting {
                        kind: NestedKind::CoreModule,
                        index: 1
                    }
                ]
            )]
        );
        let last = &frames[5];
        assert_eq!(last.parent, Some(0));
        assert_eq!(last.nesting.as_ref().unwrap().index, 1);
        assert_eq!(frames[0].range, 0..bytes.len() as u64);
        let r = &frames[1].range;
        assert_eq!(&bytes[r.start as usize..r.start as usize + 4], b"\0asm");
    }
}
