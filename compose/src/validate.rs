//! Validation with `wasmparser`, feature detection and target profiles.
