//! The `tanis` binary: everything lives in the library; this only hands over the command line, and chooses the
//! allocator.

/// jemalloc, not glibc's malloc: it gives freed pages back to the kernel, so the memory of a burst (a storm of
/// handshakes, a resume) does not stay resident beside the sockets that outlive it (BENCHMARKS.md, "Idle sockets:
/// the steps").
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts (the `MALLOC_CONF` environment variable still overrides them): a
/// background thread returns pages freed more than a second ago, so the threads serving sockets never do it.
#[cfg(target_os = "linux")]
#[unsafe(export_name = "malloc_conf")]
static MALLOC_CONF: &[u8; 60] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> std::process::ExitCode {
    tanis::cli::main()
}
