//! Composition, validation, optimization and inspection of WebAssembly components.
//!
//! This crate works on bytes already in memory: it reads no files of the caller's and does no
//! network I/O. Callers (the `wtool` CLI) load inputs, pass them in, and write what comes back.
//! (binaryen reads and writes files only, so `optimize` hands it each module through a private
//! scratch directory that it removes again.)
//!
//! Composition flows one way: [`plan`] decides which export fills which import, [`explain`]
//! reads the plan, and [`composition`] calls both (after [`wiring`] resolved the caller's
//! choices), builds the graph and encodes it. Names and
//! semver tracks are matched in [`names`] alone.

#![warn(missing_docs)]

pub mod composition;
pub mod explain;
pub mod features;
pub mod input;
pub mod inspect;
pub mod names;
pub mod nesting;
pub mod optimize;
pub mod output;
pub mod plan;
pub mod profile;
pub mod provenance;
mod report;
pub mod sections;
mod splice;
pub mod target;
pub mod type_nesting;
mod unwind;
pub mod validate;
pub mod wac_document;
pub mod wiring;

pub use composition::{compose, ComposeError, ComposeOptions, ComposeReport, Composition, Input};
pub use output::Output;
pub use wiring::{HostImports, Wire, Wiring};
