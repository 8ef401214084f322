//! Composition, validation and inspection of WebAssembly components.
//!
//! This crate works on bytes already in memory: it reads no files and does no network I/O.
//! Callers (the `wtool` CLI) load inputs, pass them in, and write what comes back.

pub mod composition;
pub mod explain;
pub mod features;
pub mod input;
pub mod inspect;
pub mod plan;
pub mod profile;
pub mod provenance;
mod report;
pub mod validate;

pub use composition::{compose, ComposeError, ComposeOptions, Composition, Input, Report};
