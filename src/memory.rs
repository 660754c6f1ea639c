//! Gives the operating system back the heap a long-running process freed: glibc keeps freed
//! pages in its arenas, so a daemon whose round read the whole tenant stays resident at that
//! round's peak long after the round dropped what it read.

/// Asks glibc to return the free pages of every arena (`malloc_trim(0)`); returns whether it
/// gave anything back. Elsewhere (musl, macOS) it does nothing: those allocators have no such
/// call. Call it where the process is idle: glibc locks each arena in turn while it walks it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_freed() -> bool {
    // SAFETY: `malloc_trim` takes no pointers and touches only glibc's own free lists, under
    // the arenas' locks; live allocations are left as they are.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Does nothing off glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed() -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn freed_memory_can_be_released_and_live_memory_stays() {
        let live = vec![7u8; 1 << 20];
        // Many mid-sized blocks freed below a live one: pages only a trim gives back.
        let mut scratch: Vec<Vec<u8>> = (0..256).map(|i| vec![i as u8; 64 * 1024]).collect();
        let keep = scratch.pop();
        drop(scratch);
        let _ = super::release_freed();
        assert!(live.iter().all(|&b| b == 7));
        assert_eq!(keep.map(|k| k.len()), Some(64 * 1024));
    }
}
