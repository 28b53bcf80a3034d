//! Overwriting a small document in place instead of renaming a new file over it: the
//! embedded store's one performance trick, used only for batches that need not survive a
//! power loss. BENCHMARKS.md ("Store") has its measured share of an attach.
//!
//! A document up to a page replaces one of up to a page with one write at offset 0, padded
//! with blanks (which JSON ignores) to the old length, so that no byte of the old version
//! survives and the file never has to be cut (a second step a process could die before). A
//! process dying cannot tear such a write; a power loss can, which is why durable batches
//! never use it. Reads strip the padding (`unpad`), so no caller ever sees it.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

/// The largest document (old or new) overwritten in place.
const MAX: usize = 4096;

/// Overwrite the document at `path` with `value` when both are small: Ok(false) when it is not
/// there or either version is too large (then the caller renames a new file over it).
pub(crate) fn overwrite(path: &Path, value: &[u8]) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    // `bench/tricks.sh` builds a binary without the trick, to measure what it wins.
    if cfg!(underlay_bench_no_in_place) || value.len() > MAX {
        return Ok(false);
    }
    let f = match OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let old = f.metadata()?.len() as usize;
    if old > MAX {
        return Ok(false);
    }
    let mut page = Vec::with_capacity(old.max(value.len()));
    page.extend_from_slice(value);
    page.resize(old.max(value.len()), b' ');
    let n = f.write_at(&page, 0)?;
    if n != page.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write ({n} of {} bytes)", page.len()),
        ));
    }
    Ok(true)
}

/// A document as stored, without the blanks an overwrite padded it with (JSON and ids never
/// end with one).
pub(crate) fn unpad(mut v: Vec<u8>) -> Vec<u8> {
    let len = v.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    v.truncate(len);
    v
}
