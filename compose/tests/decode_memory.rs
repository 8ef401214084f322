//! A component that claims a section far larger than the file: decoding it must fail without
//! allocating what the claim says. The case is the `inspect` fuzz target's out-of-memory
//! finding: 11 KB that made the WIT decoder allocate 547 MB.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

#[test]
fn a_section_that_claims_more_than_the_file_holds_allocates_nothing_like_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bytes =
        std::fs::read(root.join("tests/fuzz-cases/inspect/oom-huge-section-claim")).unwrap();
    LARGEST.store(0, Ordering::Relaxed);
    assert!(wtool_compose::input::decode_wit(&bytes).is_err());
    assert!(wtool_compose::inspect::wit("claim.wasm", &bytes).is_err());

    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < 16 << 20,
        "decoding {} bytes made one allocation of {largest} bytes",
        bytes.len()
    );
}
