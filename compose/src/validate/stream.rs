//! The one validator: wasmparser's, fed with bytes in chunks of any size.
//!
//! Bytes are parsed where they lie, in the chunk handed to [`Validator::feed`]; only an item
//! that a chunk cuts in two (a section, or one function body) is copied, and only its bytes.
//! So the memory held between chunks is bounded by the largest such item, with one exception
//! made on purpose: a custom section or a core module's data section that does not fit in the
//! bytes at hand is never held. Custom sections are validated by their name alone, and data
//! sections by their segments' headers (kinds, memory indices, offset expressions): the parser
//! and validator are handed a copy with the payloads left out, and the payloads are dropped as
//! they stream past. That is what makes components large (an interpreter's heap image, debug
//! information), so an 18 MB component is validated holding well under a megabyte.
//!
//! Offsets stay those of the input: each parser's lag behind the input (the bytes it was not
//! handed) is added back to every offset it reports. Within a data section that streamed past,
//! segments sit closer together for the parser than in the input, so a feature first used by a
//! segment there (a passive segment, an extended constant) is reported at a nearby offset.
//!
//! Function bodies found in one call to `feed` are validated before it returns, on rayon's pool
//! when they are many, and the features they use are scanned in the same visit.

use super::known::{BodyKey, Context, KnownBodies};
use super::scan::{self, ModuleState, SectionScan, Uses};
use super::{FunctionRef, Location};
use crate::input::{ArtifactKind, KindProbe};
use crate::nesting::{Nest, Nesting};
use crate::sections::{self, CUSTOM, DATA};
use rayon::prelude::*;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use wasm_encoder::Encode;
use wasmparser::{
    BinaryReader, BinaryReaderError, Chunk, ConstExpr, Encoding, FuncToValidate,
    FuncValidatorAllocations, FunctionBody, KnownCustom, Name, Parser, Payload, ValidPayload,
    ValidatorResources, WasmFeatures,
};

/// wasmparser's limits, which its parser enforces on what it is handed.
const MAX_WASM_STRING_SIZE: u32 = 100_000;
const MAX_WASM_DATA_SEGMENTS: u32 = 100_000;

/// Why validation failed, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// wasmparser's message, without the offset.
    pub message: String,
    /// Byte offset in the input.
    pub offset: u64,
    /// Features that would have made it valid, when that is the problem.
    pub missing_features: Option<WasmFeatures>,
    /// The nested artifact holding the fault, outermost first; empty for the input itself.
    pub within: Vec<Nesting>,
    /// The function, when the fault is in a function body.
    pub function: Option<FunctionRef>,
}

impl fmt::Display for Invalid {
    /// As wasmparser renders its errors: `type mismatch (at offset 0x1a)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at offset {:#x})", self.message, self.offset)
    }
}

impl std::error::Error for Invalid {}

/// What a successful validation found.
#[derive(Debug)]
pub struct Summary {
    /// Module, component or binary WIT package.
    pub kind: ArtifactKind,
    /// Core modules at every depth (a core module input counts itself).
    pub core_modules: usize,
    /// Components nested inside the input, at every depth.
    pub nested_components: usize,
    /// Function bodies validated, at every depth.
    pub functions: usize,
    /// The features used, when the validator was made with [`Validator::reporting`].
    pub features: Vec<super::FeatureUse>,
}

/// What a validator held, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// The most input bytes held between chunks at once.
    pub peak: usize,
    /// Bytes of data-segment and custom-section payloads dropped without being looked at.
    pub skipped: u64,
    /// Function bodies not validated again because [`Validator::known_bodies`] held them.
    pub known_bodies: usize,
}

/// A fault before it is placed: the frame and function it is in are resolved to a
/// [`Location`] when it is returned, when every name the input gives is known.
struct Fault {
    message: String,
    offset: u64,
    missing_features: Option<WasmFeatures>,
    frame: usize,
    func: Option<u32>,
}

impl Fault {
    fn new(e: &BinaryReaderError, shift: u64, frame: usize, func: Option<u32>) -> Self {
        Self {
            message: e.message().to_string(),
            offset: e.offset() + shift,
            missing_features: e.missing_wasm_feature(),
            frame,
            func,
        }
    }

    fn at(offset: u64, message: impl Into<String>, frame: usize) -> Self {
        Self {
            message: message.into(),
            offset,
            missing_features: None,
            frame,
            func: None,
        }
    }
}

/// How deep modules and components may nest. Real toolchains nest two or three levels; the
/// bound keeps hostile input from costing time and memory in every tool that walks the tree.
pub const MAX_NESTING: usize = 64;
/// The longest import, export or custom-section name accepted.
pub const MAX_NAME: usize = 64 * 1024;

/// The bounds above, checked before a payload is validated.
fn limits(payload: &Payload<'_>, depth: usize, shift: u64, frame: usize) -> Result<(), Fault> {
    let refuse = |offset: u64, message: String| Err(Fault::at(offset + shift, message, frame));
    let long = |name: &str, offset: u64| {
        if name.len() > MAX_NAME {
            return refuse(
                offset,
                format!(
                    "a name of {} bytes is longer than the limit of {MAX_NAME} bytes",
                    name.len()
                ),
            );
        }
        Ok(())
    };
    match payload {
        Payload::ModuleSection {
            unchecked_range, ..
        }
        | Payload::ComponentSection {
            unchecked_range, ..
        } if depth + 1 > MAX_NESTING => refuse(
            unchecked_range.start,
            format!("modules and components nest deeper than the limit of {MAX_NESTING} levels"),
        ),
        Payload::CustomSection(section) => long(section.name(), section.range().start),
        _ => {
            let Some((at, names)) = entry_names(payload) else {
                return Ok(());
            };
            names.into_iter().try_for_each(|name| long(name, at))
        }
    }
}

/// The names of an import or export section's entries, and where the section starts. Entries
/// that do not read are left for the validator to report.
fn entry_names<'d>(payload: &Payload<'d>) -> Option<(u64, Vec<&'d str>)> {
    let names = match payload {
        Payload::ImportSection(r) => (r.range().start, {
            let imports = r.clone().into_imports().flatten();
            imports.flat_map(|i| [i.module, i.name]).collect()
        }),
        Payload::ExportSection(r) => (r.range().start, {
            r.clone().into_iter().flatten().map(|e| e.name).collect()
        }),
        Payload::ComponentImportSection(r) => (r.range().start, {
            r.clone()
                .into_iter()
                .flatten()
                .map(|i| i.name.name)
                .collect()
        }),
        Payload::ComponentExportSection(r) => (r.range().start, {
            r.clone()
                .into_iter()
                .flatten()
                .map(|e| e.name.name)
                .collect()
        }),
        _ => return None,
    };
    Some(names)
}

/// One module or component being parsed: the input, or one nested in a component.
struct Level {
    parser: Parser,
    /// Input offset where it ends; `None` for the input, whose end is known at `finish`.
    end: Option<u64>,
    /// How far the parser's offsets lag behind the input's: the bytes left out of the data
    /// and custom sections handed to it without their payloads. Every offset it reports is
    /// corrected by this much.
    shift: u64,
    encoding: Option<Encoding>,
    /// The parser expects a section header next (where data and custom sections are caught).
    at_section_start: bool,
    /// Function bodies still to come in the current code section, and where it ends.
    code: Option<(u32, u64)>,
    /// What this module's bodies may refer to, when bodies are looked up in known ones.
    context: Option<Context>,
}

impl Level {
    fn new(parser: Parser, end: Option<u64>, shift: u64) -> Self {
        Self {
            parser,
            end,
            shift,
            encoding: None,
            at_section_start: false,
            code: None,
            context: None,
        }
    }
}

/// A data section being passed through: its segments' headers are kept, their bytes dropped.
struct DataSection {
    /// Input offsets of the section's id byte and of its end.
    start: u64,
    end: u64,
    /// Segments still to come.
    left: u32,
    /// The body handed to the parser: the count, then each header with a length of zero.
    kept: Vec<u8>,
}

/// A function body to validate, from the chunk being fed.
struct Job<'d> {
    func: FuncToValidate<ValidatorResources>,
    body: FunctionBody<'d>,
    frame: usize,
    shift: u64,
    /// Its digest among known bodies, when they are looked up.
    key: Option<BodyKey>,
}

/// A WebAssembly validator fed with bytes in chunks, forward only.
///
/// ```ignore
/// let mut v = Validator::new(WasmFeatures::default());
/// for chunk in chunks { v.feed(chunk)?; }
/// let summary = v.finish()?;
/// ```
pub struct Validator {
    validator: wasmparser::Validator,
    features: WasmFeatures,
    report: bool,
    parallel: bool,
    known: Option<Arc<KnownBodies>>,
    levels: Vec<Level>,
    /// Input bytes from `pos` on that an earlier chunk cut short.
    held: Vec<u8>,
    /// Bytes beyond `held` needed before parsing can go on.
    want: usize,
    /// Input offset of the next byte not consumed.
    pos: u64,
    /// Payload bytes still to drop before parsing goes on.
    skip: u64,
    data: Option<DataSection>,
    nest: Nest,
    probe: KindProbe,
    /// Per open artifact, the facts the feature scan keeps.
    states: Vec<ModuleState>,
    names: HashMap<usize, HashMap<u32, String>>,
    uses: Uses,
    functions: usize,
    allocs: FuncValidatorAllocations,
    held_stats: Held,
    top: Option<Encoding>,
    failed: Option<Invalid>,
}

impl Validator {
    /// A validator with `features` enabled that gives a verdict.
    pub fn new(features: WasmFeatures) -> Self {
        Self {
            validator: wasmparser::Validator::new_with_features(features),
            features,
            report: false,
            parallel: false,
            known: None,
            levels: vec![Level::new(Parser::new(0), None, 0)],
            held: Vec::new(),
            want: 0,
            pos: 0,
            skip: 0,
            data: None,
            nest: Nest::new(None),
            probe: KindProbe::default(),
            states: Vec::new(),
            names: HashMap::new(),
            uses: Uses::default(),
            functions: 0,
            allocs: FuncValidatorAllocations::default(),
            held_stats: Held::default(),
            top: None,
            failed: None,
        }
    }

    /// Also finds the post-MVP features the input uses, and keeps function names (the `name`
    /// section is then held even when it does not fit in a chunk) for locations.
    pub fn reporting(mut self) -> Self {
        self.report = true;
        self
    }

    /// Looks function bodies up in `known` before validating them, and adds the ones it
    /// validates. Not with [`reporting`](Self::reporting): the feature scan must see every
    /// body, so a reporting validator validates them all.
    pub fn known_bodies(mut self, known: Arc<KnownBodies>) -> Self {
        self.known = Some(known);
        self
    }

    /// Validates the function bodies of a chunk on rayon's pool when they are a megabyte or
    /// more (below that, starting the pool costs more than it shares).
    pub fn parallel(mut self, parallel: bool) -> Self {
        self.parallel = parallel;
        self
    }

    /// The encoding of the input, once its header has been read.
    pub fn encoding(&self) -> Option<Encoding> {
        self.top
    }

    /// What was held so far.
    pub fn held(&self) -> Held {
        self.held_stats
    }

    /// Input bytes consumed so far (held bytes not included).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Validates the next `chunk` of the input. After an error, every call returns it again.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Invalid> {
        self.run(chunk, false)
    }

    /// Ends the input and says what it was.
    pub fn finish(mut self) -> Result<Summary, Invalid> {
        self.run(&[], true)?;
        let frames = self.nest.frames();
        let core_modules = frames
            .iter()
            .filter(|f| f.encoding == Encoding::Module)
            .count();
        let components = frames.len() - core_modules;
        let uses = std::mem::take(&mut self.uses);
        let features = uses
            .into_sorted()
            .into_iter()
            .map(|(feature, count, hit)| super::FeatureUse {
                feature,
                count,
                first: self.locate(&hit),
            })
            .collect();
        Ok(Summary {
            kind: self.probe.kind(self.top == Some(Encoding::Component)),
            core_modules,
            nested_components: components.saturating_sub(1),
            functions: self.functions,
            features,
        })
    }

    fn run(&mut self, mut chunk: &[u8], eof: bool) -> Result<(), Invalid> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = (|| {
            // Complete what an earlier chunk cut short, taking only the bytes it needs.
            while !self.held.is_empty() {
                let take = self.want.max(1).min(chunk.len());
                self.held.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                self.held_stats.peak = self.held_stats.peak.max(self.held.len());
                let held = std::mem::take(&mut self.held);
                let at_end = eof && chunk.is_empty();
                let consumed = self.advance(&held, at_end);
                self.held = held;
                let consumed = consumed?;
                self.held.drain(..consumed);
                if chunk.is_empty() {
                    return Ok(());
                }
            }
            let consumed = self.advance(chunk, eof)?;
            self.held.extend_from_slice(&chunk[consumed..]);
            self.held_stats.peak = self.held_stats.peak.max(self.held.len());
            Ok(())
        })();
        result.map_err(|fault| {
            let invalid = self.place(fault);
            self.failed = Some(invalid.clone());
            invalid
        })
    }

    /// Parses, validates and skips what it can of `data` (input bytes from `self.pos` on);
    /// returns how many bytes it consumed and sets `self.want` to what it needs next.
    fn advance(&mut self, data: &[u8], eof: bool) -> Result<usize, Fault> {
        let mut jobs = Vec::new();
        let mut off = 0;
        let result = self.steps(data, eof, &mut off, &mut jobs);
        self.pos += off as u64;
        // A fault in the structure wins over one in a body, as when bodies are validated
        // after the whole structure.
        result?;
        self.flush(&mut jobs)?;
        if eof {
            self.at_end(data.len() - off)?;
        }
        Ok(off)
    }

    /// At the end of the input: everything must have been consumed and closed.
    fn at_end(&self, left: usize) -> Result<(), Fault> {
        let end = self.pos + left as u64;
        if !self.levels.is_empty() || self.skip > 0 || self.data.is_some() || left > 0 {
            return Err(Fault::at(
                end,
                "unexpected end of content",
                self.nest.current(),
            ));
        }
        Ok(())
    }

    fn steps<'d>(
        &mut self,
        data: &'d [u8],
        eof: bool,
        off: &mut usize,
        jobs: &mut Vec<Job<'d>>,
    ) -> Result<(), Fault> {
        self.want = 0;
        loop {
            let pos = self.pos + *off as u64;
            let rest = &data[*off..];
            if self.skip > 0 {
                let n = self.skip.min(rest.len() as u64);
                *off += n as usize;
                self.skip -= n;
                self.held_stats.skipped += n;
                if self.skip > 0 {
                    return Ok(());
                }
                continue;
            }
            if self.data.is_some() {
                if !self.data_step(rest, pos, eof, off)? {
                    return Ok(());
                }
                continue;
            }
            let Some(level) = self.levels.last() else {
                if rest.is_empty() {
                    return Ok(());
                }
                return Err(Fault::at(pos, "unexpected data after the end", 0));
            };
            let (window, level_eof) = match level.end {
                Some(end) => {
                    let remaining = end.saturating_sub(pos);
                    if remaining > rest.len() as u64 && eof {
                        // The input ends inside a nested module or component.
                        let end = pos + rest.len() as u64;
                        return Err(Fault::at(
                            end,
                            "unexpected end of content",
                            self.nest.current(),
                        ));
                    }
                    let n = remaining.min(rest.len() as u64) as usize;
                    (&rest[..n], remaining <= rest.len() as u64)
                }
                None => (rest, eof),
            };
            if window.is_empty() && !level_eof {
                self.want = 1;
                return Ok(());
            }
            if level.at_section_start && !window.is_empty() {
                match self.intercept(window, pos, level_eof, off)? {
                    Intercept::Done => continue,
                    Intercept::Need(n) => {
                        self.want = n;
                        return Ok(());
                    }
                    Intercept::No => {}
                }
            }
            let level = self.levels.last_mut().expect("a level is open");
            let shift = level.shift;
            let chunk = level
                .parser
                .parse(window, level_eof)
                .map_err(|e| Fault::new(&e, shift, self.nest.current(), None))?;
            match chunk {
                Chunk::NeedMoreData(hint) => {
                    self.want = hint;
                    return Ok(());
                }
                Chunk::Parsed { consumed, payload } => {
                    let raw = &window[..consumed];
                    *off += consumed;
                    self.handle(payload, raw, pos + consumed as u64, jobs)?;
                }
            }
        }
    }

    /// Looks at a section header the current level is about to parse, and passes data and
    /// custom sections that do not fit in `window` through without their payloads.
    fn intercept(
        &mut self,
        window: &[u8],
        pos: u64,
        eof: bool,
        off: &mut usize,
    ) -> Result<Intercept, Fault> {
        let frame = self.nest.current();
        if window.len() < 4 && b"\0asm".starts_with(window) && !eof {
            return Ok(Intercept::Need(4 - window.len()));
        }
        if window.starts_with(b"\0asm") {
            // The parser has a specific error for a second header.
            return Ok(Intercept::No);
        }
        let (id, header, len) = match sections::header(window, pos) {
            Ok(Some(h)) => h,
            Ok(None) if !eof => return Ok(Intercept::Need(1)),
            // Malformed or cut short; the parser says how.
            _ => return Ok(Intercept::No),
        };
        let total = header as u64 + len as u64;
        let level = self.levels.last().expect("a level is open");
        if total <= window.len() as u64 || eof {
            // At hand, or the input ends inside it: the parser handles it.
            return Ok(Intercept::No);
        }
        let end = pos + total;
        if level.end.is_some_and(|e| end > e) {
            return Err(Fault::at(
                pos,
                format!(
                    "section of {len} bytes extends past the end of the enclosing module or component"
                ),
                frame,
            ));
        }
        let body = &window[header..];
        match (level.encoding, id) {
            (Some(_), CUSTOM) => {
                let Some((name_len, leb)) = leb_u32(body, pos + header as u64)? else {
                    return Ok(Intercept::Need(1));
                };
                let keep = if name_len <= MAX_WASM_STRING_SIZE
                    && leb as u64 + name_len as u64 <= len as u64
                {
                    leb + name_len as usize
                } else {
                    // Too long or past the section: the parser refuses the name by its length.
                    leb
                };
                if body.len() < keep {
                    return Ok(Intercept::Need(keep - body.len()));
                }
                if self.report && &body[leb..keep] == b"name" {
                    // Function names for locations: held like any other section.
                    return Ok(Intercept::No);
                }
                self.pass_reduced(CUSTOM, &body[..keep], total, pos)?;
                *off += header + keep;
                self.skip = len as u64 - keep as u64;
                Ok(Intercept::Done)
            }
            (Some(Encoding::Module), DATA) => {
                let Some((count, leb)) = leb_u32(body, pos + header as u64)? else {
                    return Ok(Intercept::Need(1));
                };
                *off += header + leb;
                let data = DataSection {
                    start: pos,
                    end,
                    left: count,
                    kept: body[..leb].to_vec(),
                };
                if count > MAX_WASM_DATA_SEGMENTS {
                    // The validator refuses the count with its own message.
                    self.pass_reduced(DATA, &data.kept, total, pos)?;
                    self.skip = len as u64 - leb as u64;
                    return Ok(Intercept::Done);
                }
                self.data = Some(data);
                Ok(Intercept::Done)
            }
            _ => Ok(Intercept::No),
        }
    }

    /// One step through a data section: the next segment's header, or the end. Returns
    /// whether it made progress.
    fn data_step(
        &mut self,
        rest: &[u8],
        at: u64,
        eof: bool,
        off: &mut usize,
    ) -> Result<bool, Fault> {
        let frame = self.nest.current();
        let data = self.data.as_mut().expect("inside a data section");
        if data.left == 0 {
            if at != data.end {
                return Err(Fault::at(
                    at,
                    "section size mismatch: unexpected data at the end of the section",
                    frame,
                ));
            }
            let data = self.data.take().expect("inside a data section");
            self.pass_reduced(DATA, &data.kept, data.end - data.start, data.start)?;
            return Ok(true);
        }
        let left = data.end - at;
        let window = &rest[..(rest.len() as u64).min(left) as usize];
        match segment_header(window, at) {
            Ok((kept, header, len)) => {
                data.kept.extend_from_slice(&window[..kept]);
                data.kept.push(0);
                data.left -= 1;
                *off += header;
                if at + header as u64 + len as u64 > data.end {
                    return Err(Fault::at(
                        at + header as u64,
                        "data segment extends past the end of the data section",
                        frame,
                    ));
                }
                self.skip = len as u64;
                Ok(true)
            }
            Err(SegmentError::Flags) => {
                Err(Fault::at(at, "invalid flags byte in data segment", frame))
            }
            // Not enough bytes at hand for a long offset expression.
            Err(SegmentError::Read(_)) if (window.len() as u64) < left && !eof => {
                self.want = window.len().max(16);
                Ok(false)
            }
            Err(SegmentError::Read(e)) => Err(Fault::new(&e, 0, frame, None)),
        }
    }

    /// Hands the current level's parser a section made of `body` (the kept part of a section
    /// of `total` bytes that starts at input offset `start`), and validates it.
    fn pass_reduced(&mut self, id: u8, body: &[u8], total: u64, start: u64) -> Result<(), Fault> {
        let mut section = vec![id];
        body.encode(&mut section);
        let frame = self.nest.current();
        let level = self.levels.last_mut().expect("a level is open");
        let shift = level.shift;
        let payload = match level.parser.parse(&section, false) {
            Ok(Chunk::Parsed { consumed, payload }) if consumed == section.len() => payload,
            Ok(_) => return Err(Fault::at(start, "malformed section", frame)),
            Err(e) => return Err(Fault::new(&e, shift, frame, None)),
        };
        level.shift += total - section.len() as u64;
        // Data and custom sections never start a nested parser or end a level, or hold bodies.
        let mut none = Vec::new();
        self.handle(payload, &section, start + total, &mut none)
    }

    /// Validates one payload of the current level; `raw` is its bytes as the parser was handed
    /// them, and `after` the input offset after it.
    fn handle<'d>(
        &mut self,
        payload: Payload<'d>,
        raw: &[u8],
        after: u64,
        jobs: &mut Vec<Job<'d>>,
    ) -> Result<(), Fault> {
        self.nest.before(&payload);
        let frame = self.nest.current();
        let depth = self.nest.depth();
        let level = self.levels.last_mut().expect("a level is open");
        let shift = level.shift;
        if let Payload::Version { encoding, .. } = &payload {
            level.encoding = Some(*encoding);
            if *encoding == Encoding::Module && self.known.is_some() && !self.report {
                level.context = Some(Context::new(self.features));
            }
            if self.top.is_none() {
                self.top = Some(*encoding);
            }
            if self.report {
                self.states.push(ModuleState::default());
            }
        }
        let code_start = match &payload {
            Payload::CodeSectionStart { count, size, .. } => Some((*count, after + *size as u64)),
            _ => None,
        };
        if let Some(context) = &mut level.context {
            match &payload {
                Payload::CodeSectionStart { .. } => context.close(),
                Payload::CustomSection(_) | Payload::CodeSectionEntry(_) => {}
                _ => context.section(raw),
            }
        }
        limits(&payload, depth, shift, frame)?;
        crate::type_nesting::check_payload(&payload, raw)
            .map_err(|e| Fault::at(e.offset + shift, e.to_string(), frame))?;
        let valid = self
            .validator
            .payload(&payload)
            .map_err(|e| Fault::new(&e, shift, frame, None))?;
        if depth == 0 {
            self.probe
                .payload(&payload)
                .map_err(|e| Fault::new(&e, shift, frame, None))?;
        }
        if self.report {
            self.scan(&payload, frame, shift)?;
        }
        let level = self.levels.last_mut().expect("a level is open");
        match valid {
            ValidPayload::Ok => {
                level.code = code_start;
                level.at_section_start = match level.code {
                    Some((0, end)) => after == end,
                    Some(_) => false,
                    None => true,
                };
            }
            ValidPayload::Func(func, body) => {
                // A context is set only when bodies are looked up in known ones.
                let key = level.context.as_ref().and_then(|c| c.key(func.index, raw));
                let known = match (&key, &self.known) {
                    (Some(key), Some(known)) => known.contains(key),
                    _ => false,
                };
                if known {
                    self.held_stats.known_bodies += 1;
                    self.functions += 1;
                } else {
                    jobs.push(Job {
                        func,
                        body,
                        frame,
                        shift,
                        key,
                    });
                }
                if let Some((left, end)) = &mut level.code {
                    *left = left.saturating_sub(1);
                    level.at_section_start = *left == 0 && after == *end;
                }
            }
            ValidPayload::Parser(parser) => {
                let len = match &payload {
                    Payload::ModuleSection {
                        unchecked_range, ..
                    }
                    | Payload::ComponentSection {
                        unchecked_range, ..
                    } => unchecked_range.end - unchecked_range.start,
                    _ => 0,
                };
                level.at_section_start = true;
                self.levels
                    .push(Level::new(parser, Some(after + len), shift));
            }
            ValidPayload::End(_) => {
                self.levels.pop();
                if self.report {
                    self.states.pop();
                }
            }
        }
        self.nest.after(&payload);
        Ok(())
    }

    /// The feature scan of one payload, and the function names of a `name` section.
    fn scan(&mut self, payload: &Payload<'_>, frame: usize, shift: u64) -> Result<(), Fault> {
        if let Payload::CustomSection(section) = payload {
            // Function names for messages; a malformed name section is only a missed name.
            if let KnownCustom::Name(reader) = section.as_known() {
                let names = self.names.entry(frame).or_default();
                for name in reader.into_iter().flatten() {
                    if let Name::Function(map) = name {
                        for naming in map.into_iter().flatten() {
                            names.insert(naming.index, naming.name.to_string());
                        }
                    }
                }
            }
        }
        let Some(state) = self.states.last_mut() else {
            return Ok(());
        };
        SectionScan {
            uses: &mut self.uses,
            state,
            frame,
            shift,
        }
        .payload(payload)
        .map_err(|e| Fault::new(&e, shift, frame, None))
    }

    /// Validates the bodies collected from one chunk; the first fault in input order wins.
    fn flush(&mut self, jobs: &mut Vec<Job<'_>>) -> Result<(), Fault> {
        if jobs.is_empty() {
            return Ok(());
        }
        self.functions += jobs.len();
        let keys: Vec<BodyKey> = jobs.iter().filter_map(|j| j.key).collect();
        let report = self.report;
        let run = |allocs: &mut FuncValidatorAllocations, (order, job): (usize, Job<'_>)| {
            let mut func = job.func.into_validator(std::mem::take(allocs));
            let index = func.index();
            let mut uses = Uses::default();
            let scan = report.then_some((&mut uses, job.frame, job.shift));
            let result = scan::validate_body(&mut func, &job.body, scan);
            *allocs = func.into_allocations();
            match result {
                Ok(()) => Outcome { uses, error: None },
                Err(e) => Outcome {
                    uses: Uses::default(),
                    error: Some((order, Fault::new(&e, job.shift, job.frame, Some(index)))),
                },
            }
        };
        let bytes: usize = jobs
            .iter()
            .map(|j| (j.body.range().end - j.body.range().start) as usize)
            .sum();
        let outcome = if self.parallel && super::chunks::worth_parallel(bytes) {
            jobs.par_drain(..)
                .enumerate()
                .map_init(FuncValidatorAllocations::default, run)
                .reduce(Outcome::default, Outcome::merge)
        } else {
            let mut allocs = std::mem::take(&mut self.allocs);
            let mut total = Outcome::default();
            for job in jobs.drain(..).enumerate() {
                total = total.merge(run(&mut allocs, job));
                if total.error.is_some() {
                    break;
                }
            }
            self.allocs = allocs;
            total
        };
        jobs.clear();
        self.uses = std::mem::take(&mut self.uses).merge(outcome.uses);
        match outcome.error {
            Some((_, fault)) => Err(fault),
            None => {
                if let Some(known) = &self.known {
                    known.insert_all(keys);
                }
                Ok(())
            }
        }
    }

    fn function(&self, frame: usize, index: u32) -> FunctionRef {
        let name = self
            .names
            .get(&frame)
            .and_then(|names| names.get(&index).cloned());
        FunctionRef { index, name }
    }

    fn place(&self, fault: Fault) -> Invalid {
        Invalid {
            message: fault.message,
            offset: fault.offset,
            missing_features: fault.missing_features,
            within: self.nest.path(fault.frame),
            function: fault.func.map(|i| self.function(fault.frame, i)),
        }
    }

    fn locate(&self, hit: &scan::Hit) -> Location {
        Location {
            offset: hit.offset,
            within: self.nest.path(hit.frame),
            function: hit.func.map(|i| self.function(hit.frame, i)),
            what: match &hit.what {
                scan::What::Instr(visit) => scan::instruction_name(visit),
                scan::What::Text(text) => text.to_string(),
            },
        }
    }
}

enum Intercept {
    /// Passed through; go on after it.
    Done,
    /// Not intercepted; the parser handles it.
    No,
    /// Needs this many more bytes to decide.
    Need(usize),
}

/// Result of validating a batch of bodies: merged feature uses and the first fault in order.
#[derive(Default)]
struct Outcome {
    uses: Uses,
    error: Option<(usize, Fault)>,
}

impl Outcome {
    fn merge(self, other: Outcome) -> Outcome {
        let error = match (self.error, other.error) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        Outcome {
            uses: self.uses.merge(other.uses),
            error,
        }
    }
}

/// A `u32` LEB128 at the start of `bytes` and its length; `None` when `bytes` end inside it.
fn leb_u32(bytes: &[u8], offset: u64) -> Result<Option<(u32, usize)>, Fault> {
    if bytes.len() < 5 && bytes.iter().all(|b| b & 0x80 != 0) {
        return Ok(None);
    }
    let mut reader = BinaryReader::new(bytes, offset);
    let n = reader
        .read_var_u32()
        .map_err(|e| Fault::new(&e, 0, 0, None))?;
    Ok(Some((n, reader.current_position())))
}

/// Reads a data segment up to (not including) its bytes, as wasmparser does. Returns the
/// length of the header without and with the byte-length field, and the byte length.
fn segment_header(window: &[u8], offset: u64) -> Result<(usize, usize, u32), SegmentError> {
    let mut reader = BinaryReader::new(window, offset);
    let flags = reader.read_var_u32()?;
    match flags {
        1 => {}
        0 | 2 => {
            if flags == 2 {
                reader.read_var_u32()?;
            }
            reader.read::<ConstExpr>()?;
        }
        _ => return Err(SegmentError::Flags),
    }
    let header = reader.current_position();
    let len = reader.read_var_u32()?;
    Ok((header, reader.current_position(), len))
}

enum SegmentError {
    /// Malformed, or cut short by the end of the window.
    Read(BinaryReaderError),
    Flags,
}

impl From<BinaryReaderError> for SegmentError {
    fn from(e: BinaryReaderError) -> Self {
        SegmentError::Read(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Vec<u8> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        std::fs::read(root.join(path)).unwrap()
    }

    fn run(bytes: &[u8], chunk: usize) -> (Result<Summary, Invalid>, Held) {
        feed_in(
            Validator::new(WasmFeatures::default()).reporting(),
            bytes,
            chunk,
        )
    }

    /// Feeds `bytes` to `v` in chunks of `chunk`, stopping at the first fault.
    fn feed_in(mut v: Validator, bytes: &[u8], chunk: usize) -> (Result<Summary, Invalid>, Held) {
        for piece in bytes.chunks(chunk.max(1)) {
            if let Err(e) = v.feed(piece) {
                return (Err(e), v.held());
            }
        }
        let held = v.held();
        (v.finish(), held)
    }

    /// Chunk boundaries change nothing: not the verdict, not the features found, not where.
    #[test]
    fn chunked_feeding_finds_what_one_feed_finds() {
        for name in [
            "components/app.wasm",
            "components/logger.wasm",
            "edge/core-module.wasm",
        ] {
            let bytes = fixture(name);
            let whole = run(&bytes, usize::MAX).0.unwrap();
            for chunk in [1, 3, 100, 4096, 65536] {
                let (pieces, _) = run(&bytes, chunk);
                let pieces = pieces.unwrap_or_else(|e| panic!("{name} in chunks of {chunk}: {e}"));
                assert_eq!(pieces.kind, whole.kind, "{name}");
                assert_eq!(pieces.functions, whole.functions, "{name}");
                assert_eq!(pieces.core_modules, whole.core_modules, "{name}");
                let features = |s: &Summary| {
                    s.features
                        .iter()
                        .map(|u| (u.feature, u.count, u.first.clone()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    features(&pieces),
                    features(&whole),
                    "{name} in chunks of {chunk}"
                );
            }
        }
    }

    /// Faults are found at the same offset however the input is cut, and a cut input fails.
    #[test]
    fn faults_do_not_depend_on_chunks() {
        let mut bytes = fixture("components/logger.wasm");
        let whole = run(&bytes, usize::MAX).0.unwrap();
        assert!(whole.functions > 0);
        assert!(run(&bytes[..bytes.len() - 3], 4096).0.is_err());
        // A flipped byte in the middle of the code.
        let at = bytes.len() / 2;
        bytes[at] ^= 0x40;
        let expected = run(&bytes, usize::MAX).0.err();
        for chunk in [7, 512, 65536] {
            assert_eq!(run(&bytes, chunk).0.err(), expected, "chunks of {chunk}");
        }
    }

    /// Big payloads stream past without being held, and offsets after them stay true.
    #[test]
    fn payloads_are_dropped_and_offsets_kept() {
        let section = |id: u8, body: &[u8]| {
            let mut out = vec![id];
            body.encode(&mut out);
            out
        };
        let mut custom = Vec::new();
        "big".encode(&mut custom);
        custom.extend(vec![7u8; 1 << 20]);
        let escaped: String = (0..1 << 16).map(|i| format!("\\{:02x}", i % 256)).collect();
        let module = wat::parse_str(format!(
            r#"(module (memory 20) (func (return_call 0)) (data (i32.const 0) "{escaped}"))"#
        ))
        .unwrap();
        let bytes = [
            b"\0asm\x0d\0\x01\0".to_vec(),
            section(0, &custom),
            section(1, &module),
            section(1, &module),
        ]
        .concat();
        let whole = run(&bytes, usize::MAX).0.unwrap();
        let (pieces, held) = run(&bytes, 8192);
        let pieces = pieces.unwrap();
        assert!(held.peak <= 8192, "{held:?}");
        assert!(held.skipped >= 1 << 20, "{held:?}");
        let first = |s: &Summary| {
            s.features
                .iter()
                .map(|u| u.first.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(first(&pieces), first(&whole));
        assert!(
            first(&whole).iter().any(|l| l.what == "return_call"),
            "{:?}",
            first(&whole)
        );
    }

    fn with_known(
        bytes: &[u8],
        chunk: usize,
        known: &Arc<KnownBodies>,
    ) -> (Result<Summary, Invalid>, Held) {
        let v = Validator::new(WasmFeatures::default()).known_bodies(known.clone());
        feed_in(v, bytes, chunk)
    }

    /// A component seen before is not validated again, however either is cut into chunks;
    /// a reporting validator still validates every body.
    #[test]
    fn known_bodies_are_not_validated_again() {
        let bytes = fixture("components/go-logger.wasm");
        let known = Arc::new(KnownBodies::new(1 << 20));
        let (first, held) = with_known(&bytes, 1 << 16, &known);
        let functions = first.expect("valid").functions;
        assert!(functions > 100, "{functions} bodies");
        assert_eq!(held.known_bodies, 0);
        assert_eq!(known.len(), functions);
        let (again, held) = with_known(&bytes, 4093, &known);
        assert_eq!(again.expect("valid").functions, functions);
        assert_eq!(held.known_bodies, functions);
        let mut v = Validator::new(WasmFeatures::default())
            .known_bodies(known)
            .reporting();
        v.feed(&bytes).unwrap();
        v.feed(&[]).unwrap();
        assert_eq!(v.held().known_bodies, 0);
    }

    /// A body known valid in one module is validated again in a module where it may refer to
    /// something else, and a changed body is validated again.
    #[test]
    fn a_known_body_in_another_context_is_validated_again() {
        let known = Arc::new(KnownBodies::new(1 << 20));
        let module = |globals: &str, body: &str| {
            wat::parse_str(format!(
                "(module {globals} (func (result i32) i32.const 1) (func (result i32) {body}))"
            ))
            .unwrap()
        };
        let valid = module("(global i32 (i32.const 7))", "global.get 0");
        assert!(with_known(&valid, 7, &known).0.is_ok());
        assert_eq!(known.len(), 2);
        // The same bodies, with the global the second one reads taken away.
        let (result, held) = with_known(&module("", "global.get 0"), 7, &known);
        assert!(result.is_err(), "validated again, and refused");
        assert_eq!(held.known_bodies, 0, "another context: nothing is known");
        // The same context, with the second body changed: the first one is known.
        let (result, held) = with_known(
            &module("(global i32 (i32.const 7))", "f32.const 1"),
            7,
            &known,
        );
        assert!(
            result.is_err(),
            "the changed body is validated, and refused"
        );
        assert_eq!(held.known_bodies, 1);
        // A custom section before the code changes nothing.
        let mut custom = wat::parse_str(
            "(module (global i32 (i32.const 7)) (@custom \"note\" (before func) \"x\") \
             (func (result i32) i32.const 1) (func (result i32) global.get 0))",
        )
        .unwrap();
        assert!(with_known(&custom, 64, &known).0.is_ok());
        assert_eq!(with_known(&custom, 64, &known).1.known_bodies, 2);
        custom.truncate(custom.len() - 1);
        assert!(with_known(&custom, 64, &known).0.is_err());
    }
}
