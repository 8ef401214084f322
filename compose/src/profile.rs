//! Target profiles: the features a spec level or a runtime accepts.
//!
//! Each runtime profile is derived from a source that can be checked, named in its
//! description, rather than from memory of release notes.

use wasmparser::WasmFeatures;

/// A named set of features that artifacts are checked against with `--target`.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    /// What `--target` calls it.
    pub name: &'static str,
    /// One line for `--help`, naming the source the features come from.
    pub description: &'static str,
    /// The features it accepts.
    pub features: WasmFeatures,
}

// Spec levels constrain core WebAssembly. The component model is a separate specification,
// so the base component model is allowed at every level while its post-MVP extensions
// (async, threading, ...) are not: `--target wasm2` asks "are the core modules wasm2?".
const CM: WasmFeatures = WasmFeatures::COMPONENT_MODEL;

// wasmtime 48's `Config::features`: WASM3 plus GC types and exceptions (crate feature
// `gc`), threads, the component model and component-model async (all default features).
const WASMTIME: WasmFeatures = WasmFeatures::WASM3
    .union(WasmFeatures::GC_TYPES)
    .union(WasmFeatures::EXCEPTIONS)
    .union(WasmFeatures::THREADS)
    .union(WasmFeatures::COMPONENT_MODEL)
    .union(WasmFeatures::CM_ASYNC);

// wasmtime 48's `compiler_panicking_wasm_features` for Winch and for Pulley.
const WINCH_UNSUPPORTED: WasmFeatures = WasmFeatures::GC
    .union(WasmFeatures::FUNCTION_REFERENCES)
    .union(WasmFeatures::RELAXED_SIMD)
    .union(WasmFeatures::TAIL_CALL)
    .union(WasmFeatures::GC_TYPES)
    .union(WasmFeatures::EXCEPTIONS)
    .union(WasmFeatures::LEGACY_EXCEPTIONS)
    .union(WasmFeatures::STACK_SWITCHING);

// What Chrome, Firefox and Safari all ship (webassembly.org/features, 2025) and what `jco
// transpile` needs: WASM2, plus tail calls, extended-const, typed function references, GC,
// both exception encodings and threads. Not multi-memory, memory64 or relaxed SIMD, which
// Safari lacks.
const BROWSER: WasmFeatures = WasmFeatures::WASM2
    .union(WasmFeatures::TAIL_CALL)
    .union(WasmFeatures::EXTENDED_CONST)
    .union(WasmFeatures::FUNCTION_REFERENCES)
    .union(WasmFeatures::GC)
    .union(WasmFeatures::EXCEPTIONS)
    .union(WasmFeatures::LEGACY_EXCEPTIONS)
    .union(WasmFeatures::THREADS)
    .union(CM);

/// The built-in profiles, in the order `--target` help lists them.
pub const PROFILES: [Profile; 7] = [
    Profile {
        name: "wasm1",
        description: "WebAssembly 1.0 (2017) core modules; components allowed without async",
        features: WasmFeatures::WASM1.union(CM),
    },
    Profile {
        name: "wasm2",
        description: "WebAssembly 2.0 (2022) core modules; components allowed without async",
        features: WasmFeatures::WASM2.union(CM),
    },
    Profile {
        name: "wasm3",
        description: "WebAssembly 3.0 core modules; components allowed without async",
        features: WasmFeatures::WASM3.union(CM),
    },
    Profile {
        name: "lime1",
        description: "the LLVM `lime1` CPU (tool-conventions Lime.md): wasm1 plus multi-value, \
                      sign-extension, saturating conversions, memory.copy/fill, extended-const",
        features: WasmFeatures::LIME1.union(CM),
    },
    Profile {
        name: "wasmtime",
        description: "wasmtime 48 defaults with Cranelift: wasm3, threads, component model \
                      with async",
        features: WASMTIME,
    },
    Profile {
        name: "wasmtime-winch",
        description: "wasmtime 48 with the Winch baseline compiler: the wasmtime profile \
                      without GC, function references, tail calls, exceptions, relaxed SIMD",
        features: WASMTIME.difference(WINCH_UNSUPPORTED),
    },
    Profile {
        name: "browser",
        description: "what Chrome, Firefox and Safari all ship (2025), for jco-transpiled \
                      components: wasm2, tail calls, extended-const, GC, exceptions, threads",
        features: BROWSER,
    },
];

/// A `--target` that names no built-in profile.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown target `{name}`; known targets are: {known}")]
pub struct UnknownProfile {
    /// The name given.
    pub name: String,
    /// The known names, comma-separated.
    pub known: String,
}

/// Finds a built-in profile by name.
pub fn profile(name: &str) -> Result<&'static Profile, UnknownProfile> {
    PROFILES
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| UnknownProfile {
            name: name.to_string(),
            known: PROFILES.map(|p| p.name).join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_levels_nest() {
        let get = |n| profile(n).unwrap().features;
        assert!(get("wasm2").contains(get("wasm1")));
        assert!(get("wasm3").contains(get("wasm2")));
        assert!(!get("wasm2").tail_call());
        assert!(get("wasm3").tail_call());
        assert!(!get("wasm3").cm_async());
    }

    #[test]
    fn runtimes_differ_where_documented() {
        let get = |n| profile(n).unwrap().features;
        assert!(get("wasmtime").cm_async());
        assert!(get("wasmtime").gc());
        assert!(!get("wasmtime-winch").tail_call());
        assert!(get("wasmtime-winch").simd());
        assert!(!get("browser").memory64());
        assert!(get("browser").gc());
        assert!(!get("lime1").reference_types());
        assert!(get("lime1").bulk_memory_opt());
    }

    #[test]
    fn unknown_profile_lists_known_ones() {
        let err = profile("wasm4").unwrap_err().to_string();
        assert!(
            err.contains("`wasm4`") && err.contains("wasmtime-winch"),
            "{err}"
        );
    }
}
