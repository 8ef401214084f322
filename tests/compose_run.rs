//! Composes the real fixtures with the `wtool` binary and runs the results in wasmtime.
