//! Memory running out is a typed error that changes nothing. The index reserves what a change needs
//! before it changes anything; this binary's allocator refuses, on the thread that asks it to, every
//! single allocation over a limit, as a wasm instance at its 4 GiB ceiling would refuse the next
//! growth of a large index (the model's own allocations stay small and succeed).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use crate::common::tiny_retriever;
use colbert_wasm::retriever::NewDocument;

struct Limited;

thread_local! {
    /// Largest single allocation this thread may make (0: no limit).
    static LIMIT: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only refuses (returns null), which callers must handle.
unsafe impl GlobalAlloc for Limited {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let limit = LIMIT.try_with(Cell::get).unwrap_or(0);
        if limit != 0 && layout.size() > limit {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let limit = LIMIT.try_with(Cell::get).unwrap_or(0);
        if limit != 0 && new_size > limit {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Limited = Limited;

#[test]
fn an_add_the_index_cannot_grow_for_is_an_out_of_memory_error_and_changes_nothing() {
    let mut r = tiny_retriever();
    let precision = r.precision();
    let dim = r.encode_ids(&[1]).unwrap().dim;
    // A large index (read from a file: its arena is exactly full), made without encoding.
    let big = colbert_wasm::score::bench::synthetic_store(400, 128, dim, precision, 5).unwrap();
    r.import_index(&big.to_bytes(r.model_sha256())).unwrap();
    let before = r.export_index();
    // The int8 codes, the largest allocation: with allocations capped at their size the arena cannot
    // grow at all (neither by doubling nor by the smaller steps `reserve` falls back to).
    assert_eq!(precision.name(), "int8");
    let arena_bytes = 400 * 128 * dim;
    let note = "a note that arrives when memory is short";
    let job = r
        .begin_add(&[NewDocument {
            id: "one-more",
            text: note,
            metadata: None,
        }])
        .unwrap();
    LIMIT.with(|l| l.set(arena_bytes));
    let refused = r.commit_add(job);
    LIMIT.with(|l| l.set(0));
    let err = refused.expect_err("the arena cannot grow past the limit");
    assert_eq!(err.kind(), "OutOfMemoryError", "{err}");
    assert_eq!(
        r.export_index(),
        before,
        "nothing of the refused add was stored"
    );
    r.add_documents(&[("one-more", note)]).unwrap();
    assert_eq!(r.len(), 401, "with memory back, the same add works");
}

#[test]
fn an_arena_that_cannot_double_still_grows_by_smaller_steps() {
    // On wasm32 a doubling past isize::MAX (2 GiB) is refused outright; the store then grows by an
    // eighth (`index::packed::reserve`). Here: allocations up to 1.5x the codes succeed, doubling not.
    let mut r = tiny_retriever();
    let dim = r.encode_ids(&[1]).unwrap().dim;
    let big = colbert_wasm::score::bench::synthetic_store(400, 128, dim, r.precision(), 5).unwrap();
    r.import_index(&big.to_bytes(r.model_sha256())).unwrap();
    let codes = 400 * 128 * dim;
    LIMIT.with(|l| l.set(codes * 3 / 2));
    let grown = r.add_documents(&[("one-more", "a note that arrives when memory is short")]);
    LIMIT.with(|l| l.set(0));
    grown.expect("grown by an eighth, not doubled");
    assert_eq!(r.len(), 401);
}
