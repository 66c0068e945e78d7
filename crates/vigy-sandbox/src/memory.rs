//! The worker's memory: what it has mapped, and the kernel limit on it.
//!
//! `RLIMIT_DATA` counts private writable mappings (heap, anonymous mmaps,
//! thread stacks), which is where a tick's values live, and not the
//! binary's own text, so the limit measures what ticks add.

use rustix::process::{Resource, Rlimit, setrlimit};

/// Bytes of private writable memory mapped now (`VmData`).
pub(crate) fn mapped_bytes() -> std::io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmData:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| std::io::Error::other("no VmData in /proc/self/status"))?;
    Ok(kib * 1024)
}

/// Limit this process to what it maps now plus `budget` bytes; returns
/// what it maps now.
pub(crate) fn set_data_limit(budget: u64) -> std::io::Result<u64> {
    let baseline = mapped_bytes()?;
    let limit = baseline.saturating_add(budget);
    setrlimit(Resource::Data, Rlimit { current: Some(limit), maximum: Some(limit) })?;
    // A crashing worker must not write a core file the size of its heap.
    setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) })?;
    Ok(baseline)
}
