//! `wtool-registry`: a self-hosted registry server speaking the warg v1 protocol.
//!
//! Layers, each knowing only the one below: `api` (HTTP front ends: parse, translate) →
//! `service` (authorize, receive uploads, validate and commit, answer reads) → `store`
//! (durable storage behind traits). The binary uses [`cli`]; tests start servers through
//! [`server`] with a [`config::Config`].

mod api;
pub mod cli;
pub mod config;
mod connections;
mod digest;
#[doc(hidden)]
pub mod fuzzing;
mod metrics;
pub mod policy;
pub mod server;
mod service;
mod store;
