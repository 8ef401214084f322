//! Content policy: what content is accepted.

use std::io::{self, Read, Seek, SeekFrom};
use wasmparser::{
    BinaryReader, Chunk, ConstExpr, Encoding, FuncValidatorAllocations, Parser, Payload,
    ValidPayload, Validator, WasmFeatures,
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

/// Why a check failed: the content was refused, or it could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Rejected(#[from] ContentRejection),
    #[error("cannot read content: {0}")]
    Io(#[from] io::Error),
}

#[derive(Clone, Debug)]
pub struct ContentPolicy {
    pub max_bytes: u64,
    /// Off only when an operator explicitly opts out of validation.
    pub validate_wasm: bool,
    pub allow_core_modules: bool,
}

/// What a validation run held in memory, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckStats {
    /// The largest number of content bytes buffered at once.
    pub peak_buffered: usize,
    /// Bytes of data-segment and custom-section payloads skipped without being read.
    pub skipped: u64,
}

impl ContentPolicy {
    /// The size limit, applied while content streams in, before anything else is known.
    pub fn check_size(&self, seen: u64) -> Result<(), ContentRejection> {
        if seen > self.max_bytes {
            return Err(ContentRejection::TooLarge {
                limit: self.max_bytes,
            });
        }
        Ok(())
    }

    /// Checks complete content of `len` bytes read from `reader` (positioned at its start).
    ///
    /// Memory stays flat in the size of the content: the reader is consumed in chunks, and the
    /// payloads of data segments and custom sections, which are what makes components large
    /// and which validation never looks at, are skipped with a seek instead of being read.
    /// Every other section (and each function body) is held only while it is validated.
    pub fn check<R: Read + Seek>(&self, reader: R, len: u64) -> Result<CheckStats, CheckError> {
        let (result, stats) = self.check_with_stats(reader, len);
        result.map(|()| stats)
    }

    /// [`check`](Self::check), also reporting what was held when the content was rejected.
    pub fn check_with_stats<R: Read + Seek>(
        &self,
        reader: R,
        len: u64,
    ) -> (Result<(), CheckError>, CheckStats) {
        if let Err(e) = self.check_size(len) {
            return (Err(e.into()), CheckStats::default());
        }
        if len == 0 {
            return (Err(ContentRejection::Empty.into()), CheckStats::default());
        }
        if !self.validate_wasm {
            return (Ok(()), CheckStats::default());
        }
        let mut run = Run {
            src: Source::new(reader, len),
            levels: vec![Level::new(Parser::new(0), len)],
            validator: Validator::new_with_features(WasmFeatures::all()),
            allocs: FuncValidatorAllocations::default(),
            allow_core_modules: self.allow_core_modules,
            skipped: 0,
        };
        let result = run.run();
        let stats = CheckStats {
            peak_buffered: run.src.peak,
            skipped: run.skipped,
        };
        (result, stats)
    }
}

/// Read size; also the smallest amount read ahead at once.
const CHUNK: usize = 64 * 1024;
/// wasmparser's limits, which the parser enforces on the sections we hand it.
const MAX_WASM_STRING_SIZE: u32 = 100_000;
const MAX_WASM_DATA_SEGMENTS: u32 = 100_000;
const CUSTOM_SECTION: u8 = 0;
const DATA_SECTION: u8 = 11;

fn invalid(e: wasmparser::BinaryReaderError) -> CheckError {
    ContentRejection::Invalid(e.to_string()).into()
}

fn invalid_at(offset: u64, message: &str) -> CheckError {
    ContentRejection::Invalid(format!("{message} (at offset {offset:#x})")).into()
}

/// A window over the content: `buf[start..]` holds the bytes at content offset `pos` onward.
struct Source<R> {
    reader: R,
    buf: Vec<u8>,
    start: usize,
    pos: u64,
    len: u64,
    peak: usize,
}

impl<R: Read + Seek> Source<R> {
    fn new(reader: R, len: u64) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            start: 0,
            pos: 0,
            len,
            peak: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Makes at least `want` bytes available (fewer only at the end of the content).
    fn fill(&mut self, want: usize) -> io::Result<()> {
        let left = self.len - self.pos;
        let want = (want as u64).min(left) as usize;
        let have = self.buf.len() - self.start;
        if have >= want {
            return Ok(());
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let target = (want.max(CHUNK) as u64).min(left) as usize;
        if self.buf.capacity() > 4 * CHUNK && target <= CHUNK {
            // A big section was held earlier; give the memory back.
            self.buf.shrink_to(CHUNK);
        }
        let old = self.buf.len();
        self.buf.resize(target, 0);
        if let Err(e) = self.reader.read_exact(&mut self.buf[old..]) {
            self.buf.truncate(old);
            return Err(e);
        }
        self.peak = self.peak.max(self.buf.len());
        Ok(())
    }

    fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.buf.len() - self.start);
        self.start += n;
        self.pos += n as u64;
    }

    /// Moves forward to content offset `to`, seeking over bytes that are not buffered.
    fn advance_to(&mut self, to: u64) -> io::Result<()> {
        debug_assert!(to >= self.pos && to <= self.len);
        let have = (self.buf.len() - self.start) as u64;
        if to - self.pos <= have {
            self.consume((to - self.pos) as usize);
            return Ok(());
        }
        let ahead = to - self.pos - have;
        self.buf.clear();
        self.start = 0;
        self.reader.seek(SeekFrom::Current(ahead as i64))?;
        self.pos = to;
        Ok(())
    }
}

/// One module or component being parsed (the top level, or one nested in a component).
struct Level {
    parser: Parser,
    /// Content offset where this level ends.
    end: u64,
    encoding: Option<Encoding>,
    /// The parser expects a section header next (the only place sections are intercepted).
    at_section_start: bool,
    /// Function bodies still to come in the current code section, and where that section ends.
    code: Option<(u32, u64)>,
}

impl Level {
    fn new(parser: Parser, end: u64) -> Self {
        Self {
            parser,
            end,
            encoding: None,
            at_section_start: false,
            code: None,
        }
    }
}

/// What to do after a payload was handled (the payload borrows the buffer).
enum Step {
    Continue,
    Push(Parser, u64),
    Pop,
}

struct Run<R> {
    src: Source<R>,
    levels: Vec<Level>,
    validator: Validator,
    allocs: FuncValidatorAllocations,
    allow_core_modules: bool,
    skipped: u64,
}

impl<R: Read + Seek> Run<R> {
    fn run(&mut self) -> Result<(), CheckError> {
        loop {
            let Some(level) = self.levels.last() else {
                return Ok(());
            };
            let remaining = level.end - self.src.pos;
            if level.at_section_start && remaining > 0 && self.intercept(remaining)? {
                continue;
            }
            self.parse_next(remaining)?;
        }
    }

    /// Hands the next payload of the current level to the parser and the validator.
    fn parse_next(&mut self, remaining: u64) -> Result<(), CheckError> {
        let mut want = 0usize;
        loop {
            self.src.fill(want)?;
            let n = (self.src.bytes().len() as u64).min(remaining) as usize;
            let eof = n as u64 == remaining;
            let depth = self.levels.len();
            let level = self.levels.last_mut().expect("a level is being parsed");
            let data = &self.src.buf[self.src.start..self.src.start + n];
            let (consumed, payload) = match level.parser.parse(data, eof).map_err(invalid)? {
                Chunk::NeedMoreData(hint) => {
                    if self.src.pos + n as u64 == self.src.len {
                        // The level claims bytes past the end of the content (section starts
                        // are checked against it, so this is a backstop against looping).
                        return Err(invalid_at(self.src.len, "unexpected end of content"));
                    }
                    want = n + hint.max(1);
                    continue;
                }
                Chunk::Parsed { consumed, payload } => (consumed, payload),
            };
            let after = self.src.pos + consumed as u64;
            let step = Self::handle(
                &mut self.validator,
                &mut self.allocs,
                level,
                depth,
                self.allow_core_modules,
                payload,
                after,
            )?;
            self.src.consume(consumed);
            match step {
                Step::Continue => {}
                Step::Push(parser, end) => self.levels.push(Level::new(parser, end)),
                Step::Pop => {
                    self.levels.pop();
                }
            }
            return Ok(());
        }
    }

    fn handle(
        validator: &mut Validator,
        allocs: &mut FuncValidatorAllocations,
        level: &mut Level,
        depth: usize,
        allow_core_modules: bool,
        payload: Payload<'_>,
        after: u64,
    ) -> Result<Step, CheckError> {
        if let Payload::Version { encoding, .. } = &payload {
            if depth == 1 && *encoding == Encoding::Module && !allow_core_modules {
                return Err(ContentRejection::CoreModule.into());
            }
            level.encoding = Some(*encoding);
        }
        let code_start = match &payload {
            Payload::CodeSectionStart { count, size, .. } => Some((*count, after + *size as u64)),
            _ => None,
        };
        let valid = validator.payload(&payload).map_err(invalid)?;
        let step = match valid {
            ValidPayload::Ok => {
                level.code = code_start;
                level.at_section_start = match level.code {
                    Some((0, end)) => after == end,
                    Some(_) => false,
                    None => true,
                };
                Step::Continue
            }
            ValidPayload::Func(func, body) => {
                let mut v = func.into_validator(std::mem::take(allocs));
                v.validate(&body).map_err(invalid)?;
                *allocs = v.into_allocations();
                if let Some((left, end)) = &mut level.code {
                    *left = left.saturating_sub(1);
                    level.at_section_start = *left == 0 && after == *end;
                }
                Step::Continue
            }
            ValidPayload::Parser(parser) => {
                let range = match &payload {
                    Payload::ModuleSection {
                        unchecked_range, ..
                    }
                    | Payload::ComponentSection {
                        unchecked_range, ..
                    } => unchecked_range.clone(),
                    _ => unreachable!("only nested modules and components start a parser"),
                };
                level.at_section_start = true;
                Step::Push(parser, after + (range.end - range.start))
            }
            ValidPayload::End(_) => Step::Pop,
        };
        Ok(step)
    }

    /// Looks at the section header the current level is about to parse. Data and custom
    /// sections are handed to the parser with their payloads left out (and skipped on the
    /// source); a section longer than what is left is refused before it would be buffered.
    /// Returns whether the section was handled here.
    fn intercept(&mut self, remaining: u64) -> Result<bool, CheckError> {
        self.src.fill(6)?;
        let pos = self.src.pos;
        let window = &self.src.bytes()[..(self.src.bytes().len() as u64).min(remaining) as usize];
        if window.starts_with(b"\0asm") {
            // The parser has a specific error for a second header.
            return Ok(false);
        }
        let mut reader = BinaryReader::new(window, pos);
        let (Ok(id), Ok(len)) = (reader.read_u8(), reader.read_var_u32()) else {
            // Malformed or truncated; the parser reports it.
            return Ok(false);
        };
        let header = reader.current_position();
        let end = pos + header as u64 + len as u64;
        if end > self.levels.last().expect("a level").end {
            return Err(invalid_at(
                pos,
                &format!(
                    "section of {len} bytes extends past the end of the enclosing module, component or content"
                ),
            ));
        }
        let encoding = self.levels.last().and_then(|l| l.encoding);
        let reduced = match (encoding, id) {
            (Some(_), CUSTOM_SECTION) => self.reduce_custom(pos + header as u64, end)?,
            (Some(Encoding::Module), DATA_SECTION) => self.reduce_data(pos + header as u64, end)?,
            _ => return Ok(false),
        };
        let mut section = vec![id];
        uleb(reduced.len() as u64, &mut section);
        section.extend_from_slice(&reduced);
        let depth = self.levels.len();
        let level = self.levels.last_mut().expect("a level");
        let payload = match level.parser.parse(&section, false).map_err(invalid)? {
            Chunk::Parsed { consumed, payload } if consumed == section.len() => payload,
            _ => return Err(invalid_at(pos, "malformed section")),
        };
        // Data and custom sections never start a nested parser or end a level.
        Self::handle(
            &mut self.validator,
            &mut self.allocs,
            level,
            depth,
            self.allow_core_modules,
            payload,
            end,
        )?;
        self.skipped += (end - pos).saturating_sub(section.len() as u64);
        self.src.advance_to(end)?;
        Ok(true)
    }

    /// The body of a custom section without its payload: the name is all that is checked.
    fn reduce_custom(&mut self, body: u64, end: u64) -> Result<Vec<u8>, CheckError> {
        let len = end - body;
        self.src.advance_to(body)?;
        self.src
            .fill(5 + MAX_WASM_STRING_SIZE as usize)
            .map_err(CheckError::Io)?;
        let window = &self.src.bytes()[..(self.src.bytes().len() as u64).min(len) as usize];
        let mut reader = BinaryReader::new(window, body);
        let name_len = reader.read_var_u32().map_err(invalid)?;
        let leb = reader.current_position();
        let keep = if name_len <= MAX_WASM_STRING_SIZE && leb as u64 + name_len as u64 <= len {
            leb + name_len as usize
        } else {
            // Too long or past the section: the parser rejects the name from its length alone.
            leb
        };
        Ok(window[..keep].to_vec())
    }

    /// The body of a data section with every segment's bytes left out (each segment keeps its
    /// header, with a length of zero), which validates exactly like the original: validation
    /// checks the segment count, kinds, memory indices and offset expressions, never the bytes.
    fn reduce_data(&mut self, body: u64, end: u64) -> Result<Vec<u8>, CheckError> {
        self.src.advance_to(body)?;
        self.src.fill(5)?;
        let window = &self.src.bytes()[..(self.src.bytes().len() as u64).min(end - body) as usize];
        let mut reader = BinaryReader::new(window, body);
        let count = reader.read_var_u32().map_err(invalid)?;
        let leb = reader.current_position();
        let mut out = window[..leb].to_vec();
        if count > MAX_WASM_DATA_SEGMENTS {
            // The validator refuses the count with its own message.
            return Ok(out);
        }
        let mut at = body + leb as u64;
        for _ in 0..count {
            self.src.advance_to(at)?;
            let mut want = 256usize;
            let (header, data_len) = loop {
                self.src.fill(want)?;
                let left = end - at;
                let avail = (self.src.bytes().len() as u64).min(left) as usize;
                let window = &self.src.bytes()[..avail];
                match segment_header(window, at) {
                    Ok((kept, header, data_len)) => {
                        out.extend_from_slice(&window[..kept]);
                        break (header, data_len);
                    }
                    Err(SegmentError::Flags) => {
                        return Err(invalid_at(at, "invalid flags byte in data segment"))
                    }
                    // Not enough bytes buffered for a long offset expression: read more.
                    Err(SegmentError::Read(_)) if (avail as u64) < left => want = avail * 4,
                    Err(SegmentError::Read(e)) => return Err(invalid(e)),
                }
            };
            out.push(0);
            at += header as u64 + data_len as u64;
            if at > end {
                return Err(invalid_at(
                    at - data_len as u64,
                    "data segment extends past the end of the data section",
                ));
            }
        }
        if at != end {
            return Err(invalid_at(
                at,
                "section size mismatch: unexpected data at the end of the section",
            ));
        }
        Ok(out)
    }
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
    Read(wasmparser::BinaryReaderError),
    Flags,
}

impl From<wasmparser::BinaryReaderError> for SegmentError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        SegmentError::Read(e)
    }
}

fn uleb(mut n: u64, out: &mut Vec<u8>) {
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

#[cfg(test)]
mod tests;
