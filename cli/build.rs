//! Links `wtool` as a fixed-address (non-PIE) executable on Linux. The binary carries tens of
//! thousands of relative relocations (its dependencies' vtables and static tables; there were
//! ~40,000 when it still linked binaryen); as a PIE the dynamic loader applies every one at
//! each start. A build-time CLI gains nothing from ASLR of its own image that would pay for
//! that on every run in a build script.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bin=wtool=-no-pie");
    }
}
