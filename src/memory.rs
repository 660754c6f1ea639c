//! Gives the operating system back the heap a long-running process freed, and holds the
//! binary's allocator settings: allocators keep freed pages for reuse, so a daemon whose round
//! read the whole tenant would stay resident at that round's peak long after the round dropped
//! what it read.
//!
//! On Linux with glibc the binary allocates through jemalloc (`src/main.rs`): with its arenas
//! purged at the daemon's idle point it keeps less between rounds than glibc did (8,000
//! objects: 70.8 MB median, was 77.2 MB), and it counts its live bytes, which tells a leak from
//! an allocator keeping pages ([`heap`]). What still allocates through glibc (C code, the test
//! binaries) is trimmed as before.

/// jemalloc's options for the binary, read once before `main`: two arenas (the daemon's work
/// is I/O-bound; one arena per core multiplies what each keeps), freed pages returned after
/// a second (`dirty_decay_ms`) by jemalloc's own background thread and at once after that
/// (`muzzy_decay_ms:0`) rather than kept lazily, so the resident set follows the live heap;
/// and no thread caches (`tcache:false`) but where [`cache_threads`] gives them back.
///
/// A thread cache keeps freed objects for the thread that freed them, trimmed only as that
/// thread allocates again. sled's I/O pool keeps seven or more threads that each run a write
/// now and then, so their caches filled for hours and held their pages: a sled database
/// written a few thousand times grew its process by 4.5 MB with them, 1.2–1.7 MB without. Off,
/// every allocation goes to its arena's bins, which two arenas keep uncontended, and costs
/// about a third more CPU in allocation-heavy work (a no-change plan of 10,000 objects).
///
/// Prefixed the way `tikv-jemalloc-sys` builds jemalloc; `MALLOC_CONF` is not read, the
/// prefixed `_RJEM_MALLOC_CONF` environment variable overrides these.
pub const JEMALLOC_CONF: &[u8] =
    b"background_thread:true,narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0,tcache:false\0";

/// Whether threads tenantsync starts get a thread cache ([`cache_threads`]).
static THREAD_CACHES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Gives the calling thread a jemalloc thread cache, and every thread tenantsync starts from now
/// on through [`cache_this_thread`]: for the commands that run and end (their threads' caches
/// go with them) and the server (its threads busy, so their caches are trimmed as they work).
/// The sync daemon does not call it: it runs for months, its memory flat.
pub fn cache_threads() {
    THREAD_CACHES.store(true, std::sync::atomic::Ordering::Relaxed);
    cache_this_thread();
}

/// Gives the calling thread a thread cache if [`cache_threads`] was called; returns whether it
/// has one. Every thread tenantsync starts calls it first (the tokio runtimes'
/// `on_thread_start`, the manifest parsers); threads libraries start (sled's I/O pool) do not.
pub fn cache_this_thread() -> bool {
    THREAD_CACHES.load(std::sync::atomic::Ordering::Relaxed) && set_thread_cache(true)
}

/// Turns the calling thread's jemalloc cache on or off; whether that took.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thread_cache(on: bool) -> bool {
    // SAFETY: `thread.tcache.enabled` is a `bool` jemalloc reads for the calling thread only.
    #[allow(unsafe_code)]
    unsafe {
        tikv_jemalloc_ctl::raw::write(b"thread.tcache.enabled\0", on).is_ok()
    }
}

/// No thread caches to choose off glibc (the system allocator keeps its own).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thread_cache(_on: bool) -> bool {
    false
}

/// Gives back the free pages of every allocator in use: jemalloc's arenas (`arena.<all>.purge`)
/// and glibc's (`malloc_trim(0)`); returns whether either gave anything back (jemalloc does not
/// say, so: whether its purge ran). Elsewhere (musl, macOS) it does nothing. Call it where the
/// process is idle: both walk their arenas under locks.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_freed() -> bool {
    // `MALLCTL_ARENAS_ALL` (4096): every arena at once.
    const PURGE_ALL: &std::ffi::CStr = c"arena.4096.purge";
    // SAFETY: `mallctl` reads the NUL-terminated name; `arena.<i>.purge` neither reads nor
    // writes a value, so every other pointer is null and the length zero, as it requires.
    let purged = unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        ) == 0
    };
    // SAFETY: `malloc_trim` takes no pointers and touches only glibc's own free lists, under
    // the arenas' locks; live allocations are left as they are.
    let trimmed = unsafe { libc::malloc_trim(0) == 1 };
    purged || trimmed
}

/// Does nothing off glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed() -> bool {
    false
}

/// What the allocator holds: bytes allocated and live, and bytes of pages it keeps resident
/// (live data, its metadata and freed pages not yet given back). `None` where the binary does
/// not allocate through jemalloc, or jemalloc cannot say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heap {
    /// Bytes the process allocated and has not freed.
    pub allocated: u64,
    /// Bytes of memory the allocator keeps resident.
    pub resident: u64,
}

/// jemalloc's current figures (refreshed first: jemalloc caches them per `epoch`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn heap() -> Option<Heap> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    Some(Heap {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

/// jemalloc's figures: none off glibc, where the binary keeps the system allocator.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap() -> Option<Heap> {
    None
}

/// `tenantsync_memory_allocated_bytes` and `tenantsync_memory_resident_bytes` on a `/metrics`
/// page, read when scraped (nothing when [`heap`] has no figures): a heap that grows is a leak,
/// resident memory that grows over a level heap is the allocator keeping pages.
#[derive(Debug)]
pub struct HeapCollector;

impl prometheus_client::collector::Collector for HeapCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric as _;
        use prometheus_client::metrics::{gauge::ConstGauge, MetricType};
        let Some(heap) = heap() else {
            return Ok(());
        };
        for (name, help, value) in [
            (
                "tenantsync_memory_allocated_bytes",
                "Bytes allocated and not freed (the allocator's count of live data).",
                heap.allocated,
            ),
            (
                "tenantsync_memory_resident_bytes",
                "Bytes the allocator keeps resident: live data, its metadata and freed pages not yet returned.",
                heap.resident,
            ),
        ] {
            let gauge = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value as i64).encode(gauge)?;
        }
        Ok(())
    }
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
        // jemalloc's purge runs (whether or not it is the allocator of this test binary).
        let released = super::release_freed();
        assert_eq!(released, cfg!(all(target_os = "linux", target_env = "gnu")));
        assert!(live.iter().all(|&b| b == 7));
        assert_eq!(keep.map(|k| k.len()), Some(64 * 1024));
    }

    #[test]
    fn threads_get_a_cache_once_asked_and_not_before() {
        // jemalloc is linked (not as this test binary's allocator): its per-thread switch
        // works all the same.
        let jemalloc = cfg!(all(target_os = "linux", target_env = "gnu"));
        let fresh = || std::thread::spawn(super::cache_this_thread).join().unwrap();
        assert!(!fresh(), "no cache before cache_threads()");
        if jemalloc {
            assert!(super::set_thread_cache(false));
        }
        super::cache_threads();
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: reads the calling thread's `bool` switch.
            #[allow(unsafe_code)]
            let on: bool =
                unsafe { tikv_jemalloc_ctl::raw::read(b"thread.tcache.enabled\0") }.unwrap();
            assert!(on, "the calling thread has its cache back");
        }
        assert_eq!(fresh(), jemalloc);
    }

    #[test]
    fn the_heap_figures_are_read_where_jemalloc_is_linked() {
        // This test binary allocates through glibc, so jemalloc's own count is small, but it
        // is read, and what jemalloc keeps resident covers what it has allocated.
        let heap = super::heap();
        assert_eq!(
            heap.is_some(),
            cfg!(all(target_os = "linux", target_env = "gnu"))
        );
        if let Some(heap) = heap {
            assert!(heap.resident >= heap.allocated, "{heap:?}");
        }
    }
}
