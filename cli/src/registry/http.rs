//! The one HTTP client that discovery and OCI reads share. Building a client loads the
//! system's TLS roots (a few hundred files), which is a large part of a cold fetch from a
//! registry on loopback; sharing it also lets an OCI registry's reads reuse the connection
//! discovery opened. A registry with its own trust settings (an extra CA, or invalid
//! certificates accepted) gets a client of its own from [`builder`].

use std::sync::OnceLock;
use std::time::Duration;

/// The settings every wtool client has.
pub fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("wtool/", env!("CARGO_PKG_VERSION")))
}

/// The shared client, built on first use.
pub fn shared() -> Result<reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| builder().build().map_err(|e| e.to_string()))
        .clone()
}
