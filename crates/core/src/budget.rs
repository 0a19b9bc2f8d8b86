//! Whether a command's output and working set fit the machine, checked before it starts:
//! free disk space where it writes (statvfs) and available memory (`MemAvailable` of
//! /proc/meminfo). A disk too small for what will be written is an error, since the size is
//! known exactly; a working set above the available memory is a warning, since it is an
//! estimate and the kernel may free more.
use crate::{Error, Result};
use std::path::Path;

/// Bytes free to an unprivileged writer on the filesystem of `path` (its nearest existing
/// ancestor); `None` where that cannot be read.
pub fn free_disk(path: &Path) -> Option<u64> {
    let mut dir = path;
    while !dir.exists() {
        dir = dir.parent()?;
    }
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Memory the kernel says is available without swapping; `None` off Linux.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `bytes` as people read sizes: `1.2 GB`, `340 MB`, `12 kB` (powers of 1000).
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.0} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.0} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}

/// An error when `need` bytes (`what`: how they add up) do not fit in `free` bytes at `dir`.
pub fn disk_verdict(dir: &Path, need: u64, free: u64, what: &str) -> Result<()> {
    if need <= free {
        return Ok(());
    }
    Err(Error::format(
        dir,
        format!(
            "{} free on its disk, and about {} is needed for {what}: free space, or write \
             elsewhere (--out, --workspace)",
            human(free),
            human(need)
        ),
    ))
}

/// Checks that `need` bytes fit on the disk of `dir` (no check where free space is unknown).
pub fn check_disk(dir: &Path, need: u64, what: &str) -> Result<()> {
    match free_disk(dir) {
        Some(free) => disk_verdict(dir, need, free, what),
        None => Ok(()),
    }
}

/// A warning when an estimated working set of `need` bytes (`what`) exceeds the available
/// memory `available`.
pub fn memory_verdict(need: u64, available: u64, what: &str) -> Option<String> {
    (need > available).then(|| {
        format!(
            "{what} needs about {} of memory and {} is available: it may be killed for memory",
            human(need),
            human(available)
        )
    })
}

/// [`memory_verdict`] against this machine's available memory.
pub fn check_memory(need: u64, what: &str) -> Option<String> {
    memory_verdict(need, available_memory()?, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_name_the_sizes_and_what_to_do() {
        assert!(disk_verdict(Path::new("/z"), 10, 10, "x").is_ok());
        let e = disk_verdict(Path::new("/z"), 1_200_000_000, 800_000_000, "the weights")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/z: 800 MB free") && e.contains("about 1.2 GB is needed for the weights"),
            "{e}"
        );
        assert!(memory_verdict(1, 2, "x").is_none());
        let w = memory_verdict(3_000_000_000, 1_000_000_000, "training").unwrap();
        assert!(
            w.contains("about 3.0 GB") && w.contains("1.0 GB is available"),
            "{w}"
        );
        assert_eq!(human(999), "999 B");
        assert_eq!(human(12_345), "12 kB");
    }

    #[test]
    fn this_machine_reports_disk_and_memory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_disk(&dir.path().join("not/yet/made")).unwrap() > 0);
        if cfg!(target_os = "linux") {
            assert!(available_memory().unwrap() > 0);
        }
    }
}
