//! Atomic file writes: write to a temporary file in the destination's directory, flush it to
//! disk, then rename over the destination. A crash or a full disk leaves either the old file or
//! the new one, never half of one.
use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically, creating parent directories as needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Like [`write_atomic`], but the content is produced by `fill` writing into the temporary file.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating directory", dir, e))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    // Created as any file is (0666 less the umask), not 0600: the mode survives the rename,
    // and what hyperzoo writes follows the umask like any Unix tool's output.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| Error::io("creating a temporary file in", dir, e))?;
    fill(tmp.as_file_mut())
        .and_then(|()| tmp.as_file_mut().sync_all())
        .map_err(|e| Error::io("writing", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("renaming into place", path, e.error))?;
    Ok(())
}

/// Moves `from` onto `to` (same filesystem), replacing it; creates `to`'s parent directory.
pub fn rename_into_place(from: &Path, to: &Path) -> Result<()> {
    let dir = parent_dir(to);
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating directory", dir, e))?;
    std::fs::rename(from, to).map_err(|e| Error::io("renaming into place", to, e))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/file.toml");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("file.toml")]);
    }

    #[test]
    fn failed_fill_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"old").unwrap();
        let err = write_atomic_with(&p, |_| Err(std::io::Error::other("disk full"))).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

/// What to do about an error whose text says the disk is full (ENOSPC, "No space left on
/// device", os error 28), to put after it; `None` for any other error. Writes are atomic, so
/// a full disk leaves the previous files whole: freeing space and running the same command
/// again resumes.
pub fn disk_full_hint(message: &str) -> Option<&'static str> {
    const HINT: &str = "the disk is full: free space (or choose another workspace) and run the \
         same command again; the files written before are whole, a run resumes from its last \
         checkpoint and a zoo from its last finished epoch";
    let full = message.contains("os error 28") || message.contains("No space left on device");
    // A message that carries the hint already (a run's failure, passed on) gets it once.
    (full && !message.contains(HINT)).then_some(HINT)
}

#[cfg(test)]
mod disk_full_tests {
    #[test]
    fn only_a_full_disk_gets_the_hint() {
        let full = std::io::Error::from_raw_os_error(28).to_string();
        assert!(super::disk_full_hint(&format!("writing x: {full}")).is_some());
        let denied = std::io::Error::from_raw_os_error(13).to_string();
        assert!(super::disk_full_hint(&denied).is_none());
        let hinted = format!(
            "writing x: {full}; {}",
            super::disk_full_hint(&full).unwrap()
        );
        assert!(super::disk_full_hint(&hinted).is_none());
    }
}
