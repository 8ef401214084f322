//! Validation of a component handed over in pieces, as compose writes its output.

/// Validates the component that `chunks` make when joined, without joining them: the parser
/// is handed each chunk in turn, which works because every chunk boundary falls between
/// sections. Structure is validated serially, function bodies on the rayon pool: bodies are
/// most of an 18 MB component's validation time, and they are independent of each other.
pub(crate) fn validate_chunks(
    chunks: &[&[u8]],
    features: wasmparser::WasmFeatures,
) -> Result<(), wasmparser::BinaryReaderError> {
    use wasmparser::{Chunk, Parser, ValidPayload};
    let parallel = worth_parallel(chunks.iter().map(|c| c.len()).sum());
    let mut validator = wasmparser::Validator::new_with_features(features);
    let mut bodies = Vec::new();
    let mut parser = Parser::new(0);
    let mut parents = Vec::new();
    let mut rest = chunks.iter().copied().filter(|c| !c.is_empty());
    let mut data: &[u8] = rest.next().unwrap_or_default();
    let mut ahead = rest.next();
    loop {
        if data.is_empty() {
            if let Some(next) = ahead {
                data = next;
                ahead = rest.next();
            }
        }
        let (payload, consumed) = match parser.parse(data, ahead.is_none())? {
            Chunk::Parsed { payload, consumed } => (payload, consumed),
            Chunk::NeedMoreData(_) => {
                // A section split across chunks: join them rather than fail.
                return validate_chunks(&[&chunks.concat()], features);
            }
        };
        data = &data[consumed..];
        match validator.payload(&payload)? {
            ValidPayload::Ok => {}
            ValidPayload::Func(func, body) => {
                bodies.push((func, body));
                // In batches, so the queue of bodies stays small for an 18 MB input.
                if bodies.len() == BODY_BATCH {
                    validate_bodies(&mut bodies, parallel)?;
                }
            }
            ValidPayload::Parser(next) => parents.push(std::mem::replace(&mut parser, next)),
            ValidPayload::End(_) => match parents.pop() {
                Some(parent) => parser = parent,
                None => break,
            },
        }
    }
    validate_bodies(&mut bodies, parallel)
}

const BODY_BATCH: usize = 2048;

type Body<'a> = (
    wasmparser::FuncToValidate<wasmparser::ValidatorResources>,
    wasmparser::FunctionBody<'a>,
);

fn validate_bodies(
    bodies: &mut Vec<Body<'_>>,
    parallel: bool,
) -> Result<(), wasmparser::BinaryReaderError> {
    use rayon::prelude::*;
    let validate = |allocs: &mut wasmparser::FuncValidatorAllocations, (func, body): Body<'_>| {
        let mut func = func.into_validator(std::mem::take(allocs));
        func.validate(&body)?;
        *allocs = func.into_allocations();
        Ok(())
    };
    if parallel {
        bodies
            .par_drain(..)
            .try_for_each_init(wasmparser::FuncValidatorAllocations::default, validate)
    } else {
        let mut allocs = wasmparser::FuncValidatorAllocations::default();
        bodies.drain(..).try_for_each(|b| validate(&mut allocs, b))
    }
}

/// Below about a megabyte, starting the thread pool costs more than the work it would share.
pub(crate) fn worth_parallel(bytes: usize) -> bool {
    bytes >= 1 << 20
}
