//! Test components built in memory. Large ones are encoded directly, so that a 20 MB input
//! costs no WAT parsing.

use wasm_encoder::{ConstExpr, DataSection, MemorySection, MemoryType, Module, ModuleSection};

/// A small valid component whose bytes differ for each `n`.
pub fn component(n: u32) -> Vec<u8> {
    wat::parse_str(format!(
        "(component (core module (func (export \"f\") i32.const {n} drop)))"
    ))
    .expect("the test WAT parses")
}

/// A valid component of a little over `size` bytes: one core module with one memory and one
/// `size`-byte data segment whose bytes depend on `salt`.
pub fn sized_component(size: usize, salt: u8) -> Vec<u8> {
    let mut module = Module::new();
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: (size / 65536 + 1) as u64,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);
    module.section(&segment(size, salt));
    wrap(&module)
}

/// A component of a little over `size` bytes that is invalid only because of what sits in
/// front of its payload: its module has a data segment but no memory.
pub fn invalid_sized_component(size: usize) -> Vec<u8> {
    let mut module = Module::new();
    module.section(&segment(size, 0));
    wrap(&module)
}

fn segment(size: usize, salt: u8) -> DataSection {
    let mut data = DataSection::new();
    data.active(
        0,
        &ConstExpr::i32_const(0),
        (0..size).map(|i| (i as u8) ^ salt),
    );
    data
}

fn wrap(module: &Module) -> Vec<u8> {
    let mut component = wasm_encoder::Component::new();
    component.section(&ModuleSection(module));
    component.finish()
}
