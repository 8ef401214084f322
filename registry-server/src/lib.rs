//! `wtool-registry`: a self-hosted registry server speaking the warg v1 protocol.
//!
//! Layers: [`api`] (HTTP) → [`service`] (validation, commits, proofs) → [`store`] (durable
//! storage behind traits).

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod metrics;
pub mod policy;
pub mod server;
pub mod service;
pub mod store;
