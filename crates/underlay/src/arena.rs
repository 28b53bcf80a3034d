//! The process's allocator. Most runs of `underlay` are short: one CNI call or one command,
//! a few hundred kilobytes allocated in all, then exit. musl's allocator returns memory to the
//! kernel eagerly, so such a run spends a good part of its time in `mmap`/`munmap` and in page
//! faults on memory it has just given back (each `munmap` also flushes the TLB of every core).
//! Here allocations are carved from a bump arena in the binary's zero-initialised data (no
//! system call at all; the kernel maps each page on first touch) and never handed back; a
//! block freed right after it was allocated is reused. Past the arena's end, and for every
//! allocation once [`long_lived`] is called (the daemon), the system allocator takes over;
//! blocks are returned to whichever allocator made them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

/// Enough for any single command's working set; a run that needs more goes on with the
/// system allocator.
const SIZE: usize = 8 << 20;

/// The allocator of every `underlay` process (`bench/tricks.sh` builds one without it, to
/// measure what it wins).
#[cfg_attr(not(underlay_bench_no_arena), global_allocator)]
pub static ARENA: Arena<SIZE> = Arena {
    bump: Bump::new(),
    system_only: AtomicBool::new(false),
};

pub struct Arena<const N: usize> {
    bump: Bump<N>,
    /// Set for long-lived processes: new blocks come from the system allocator.
    system_only: AtomicBool,
}

/// From now on allocate from the system allocator, which gives memory back to the kernel: for
/// processes that run for long (the daemon). Blocks already in the arena stay valid.
pub fn long_lived() {
    ARENA.system_only.store(true, Relaxed);
}

/// `N` bytes handed out front to back. Zero-initialised, so a static one lies in the binary's
/// bss and costs nothing until touched.
#[repr(C, align(4096))]
struct Bump<const N: usize> {
    mem: UnsafeCell<[u8; N]>,
    /// Offset of the first free byte.
    next: AtomicUsize,
}

// SAFETY: the bytes are only reached through pointers handed out by `carve`, each range to one
// owner at a time (the offset moves atomically, and back only for the owner of the last block).
unsafe impl<const N: usize> Sync for Bump<N> {}

impl<const N: usize> Bump<N> {
    const fn new() -> Self {
        Self {
            mem: UnsafeCell::new([0; N]),
            next: AtomicUsize::new(0),
        }
    }

    fn base(&self) -> usize {
        self.mem.get() as usize
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        (self.base()..self.base() + N).contains(&(ptr as usize))
    }

    /// A block, or None when there is no room.
    fn carve(&self, layout: Layout) -> Option<*mut u8> {
        let base = self.base();
        let mut next = self.next.load(Relaxed);
        loop {
            let start = (base + next).checked_next_multiple_of(layout.align())? - base;
            let end = start.checked_add(layout.size())?;
            if end > N {
                return None;
            }
            match self.next.compare_exchange_weak(next, end, Relaxed, Relaxed) {
                Ok(_) => return Some((base + start) as *mut u8),
                Err(now) => next = now,
            }
        }
    }

    /// Move the end of the block at `ptr` from `old` to `new` bytes; only the last block can
    /// (a failed exchange means another block came after it: then nothing moves).
    fn resize_last(&self, ptr: *mut u8, old: usize, new: usize) -> bool {
        let off = ptr as usize - self.base();
        off + new <= N
            && self
                .next
                .compare_exchange(off + old, off + new, Relaxed, Relaxed)
                .is_ok()
    }
}

// SAFETY: blocks from the arena never overlap, are aligned as asked and lie inside it (see
// `Bump`); every other block comes from and goes back to `System`.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !self.system_only.load(Relaxed) {
            if let Some(p) = self.bump.carve(layout) {
                return p;
            }
        }
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.bump.owns(ptr) {
            // The last block given back is free again; any other stays used.
            self.bump.resize_last(ptr, layout.size(), 0);
        } else {
            // SAFETY: not the arena's, so System's.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.bump.owns(ptr) {
            // SAFETY: not the arena's, so System's.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        if new_size <= layout.size() {
            // Shrinking: the last block gives its tail back.
            self.bump.resize_last(ptr, layout.size(), new_size);
            return ptr;
        }
        if self.bump.resize_last(ptr, layout.size(), new_size) {
            return ptr;
        }
        // SAFETY: the same alignment, and `new_size` is non-zero and does not overflow when
        // rounded up (GlobalAlloc::realloc's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as `alloc`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and at least `layout.size()` long.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private arena, so that other tests' allocations do not come in between.
    fn arena() -> Box<Arena<8192>> {
        Box::new(Arena {
            bump: Bump::new(),
            system_only: AtomicBool::new(false),
        })
    }

    #[test]
    fn blocks_are_aligned_distinct_and_the_last_is_reused() {
        let a = arena();
        let l = Layout::from_size_align(24, 8).unwrap();
        let big = Layout::from_size_align(100, 64).unwrap();
        unsafe {
            let p = a.alloc(l);
            let q = a.alloc(big);
            assert!(a.bump.owns(p) && a.bump.owns(q));
            assert_eq!(q as usize % 64, 0);
            assert!(q as usize >= p as usize + 24);
            // Freed while last: the next block of that size lands there again.
            a.dealloc(q, big);
            let r = a.alloc(big);
            assert_eq!(r, q);
            // The last block grows in place and keeps its bytes.
            r.write(7);
            let g = a.realloc(r, big, 4096);
            assert_eq!((g, g.read()), (r, 7));
            // Any other block moves when it grows, with its bytes.
            p.write(9);
            let m = a.realloc(p, l, 48);
            assert_ne!(m, p);
            assert_eq!(m.read(), 9);
            // A block freed while not last stays used.
            let before = a.bump.next.load(Relaxed);
            a.dealloc(g, Layout::from_size_align(4096, 64).unwrap());
            assert_eq!(a.bump.next.load(Relaxed), before);
        }
    }

    #[test]
    fn past_the_arena_and_when_long_lived_the_system_allocates() {
        let a = arena();
        let l = Layout::from_size_align(6000, 8).unwrap();
        unsafe {
            let p = a.alloc(l);
            assert!(a.bump.owns(p));
            // No room for a second: the system's, grown and freed by the system.
            let q = a.alloc(l);
            assert!(!q.is_null() && !a.bump.owns(q));
            q.write(5);
            let q = a.realloc(q, l, 20000);
            assert_eq!(q.read(), 5);
            a.dealloc(q, Layout::from_size_align(20000, 8).unwrap());
            // An arena block that outgrows the arena moves to the system with its bytes.
            p.write(3);
            let p = a.realloc(p, l, 9000);
            assert!(!a.bump.owns(p));
            assert_eq!(p.read(), 3);
            a.dealloc(p, Layout::from_size_align(9000, 8).unwrap());
            a.system_only.store(true, Relaxed);
            let s = a.alloc(Layout::from_size_align(8, 8).unwrap());
            assert!(!a.bump.owns(s));
            a.dealloc(s, Layout::from_size_align(8, 8).unwrap());
        }
    }
}
