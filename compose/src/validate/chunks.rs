//! Validation of a component handed over in pieces, as compose writes its output.

use super::{Invalid, Validator};

/// Validates the component that `chunks` make when joined, without joining them: each chunk
/// is fed to the one [`Validator`] in turn (a section that two chunks split is held until it
/// is complete). Function bodies are validated on the rayon pool when the output is large:
/// bodies are most of an 18 MB component's validation time, and they are independent.
pub(crate) fn validate_chunks(
    chunks: &[&[u8]],
    features: wasmparser::WasmFeatures,
) -> Result<(), Invalid> {
    let parallel = worth_parallel(chunks.iter().map(|c| c.len()).sum());
    let mut validator = Validator::new(features).parallel(parallel);
    for chunk in chunks {
        validator.feed(chunk)?;
    }
    validator.finish().map(drop)
}

/// Below about a megabyte, starting the thread pool costs more than the work it would share.
pub(crate) fn worth_parallel(bytes: usize) -> bool {
    bytes >= 1 << 20
}
