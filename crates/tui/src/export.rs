//! Export from the TUI (the `e` key): the run shown, or the runs selected in the Compare view,
//! into `<workspace>/exports/`, in the formats of `hyperzoo export` (the report crate):
//!
//! ```text
//! <name>-<UTC time>.toml   one run's results.toml, or the comparison table of several runs
//!                          (runs as columns, see hyperzoo_report::results)
//! <name>-<UTC time>.png    the loss curves (several runs overlaid)
//! <name>-<UTC time>.svg    the same, as SVG
//! ```
//!
//! `<name>` is the run's name, or `compare-<N>-runs`; the time is `YYYYMMDD-HHMMSS` (a second
//! export in the same second gets `-2`, ...). A run not evaluated yet has no results: the plots
//! are still written and the summary says what is missing and the command that makes it.
//! Drawing a PNG of a long run takes a moment, so the shell calls [`export`] on a thread.
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// What an export wrote, and what it could not write (with the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The exports directory.
    pub dir: PathBuf,
    /// The files written, in the order toml, png, svg.
    pub written: Vec<PathBuf>,
    /// Why a file was not written, one message per file kind.
    pub missing: Vec<String>,
}

impl Exported {
    /// One line for the status bar: `wrote NAME.{toml,png,svg} in DIR`, then what is missing.
    pub fn summary(&self) -> String {
        let names: Vec<String> = self
            .written
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        let stems: Vec<&str> = names
            .iter()
            .filter_map(|n| n.rsplit_once('.').map(|(s, _)| s))
            .collect();
        let files = match stems.first() {
            Some(stem) if names.len() > 1 && stems.iter().all(|s| s == stem) => {
                let exts: Vec<&str> = names
                    .iter()
                    .filter_map(|n| n.rsplit_once('.').map(|(_, e)| e))
                    .collect();
                format!("{stem}.{{{}}}", exts.join(","))
            }
            _ => names.join(", "),
        };
        let mut line = format!("wrote {files} in {}", self.dir.display());
        if !self.missing.is_empty() {
            line.push_str("; ");
            line.push_str(&self.missing.join("; "));
        }
        line
    }
}

/// Exports `runs` (names of run directories under `<workspace>/runs/`) at time `now`: the
/// results TOML and the loss plot as PNG and SVG. An error when nothing could be written (no
/// run given, a run that does not exist, or every file failed), saying why.
pub fn export(workspace: &Path, runs: &[String], now: SystemTime) -> Result<Exported, String> {
    let Some(first) = runs.first() else {
        return Err("nothing to export: no run given".into());
    };
    let mut dirs = Vec::new();
    for run in runs {
        if run.is_empty() || run.starts_with('.') || run.contains(['/', '\\']) {
            return Err(format!("cannot export '{run}': not a run name"));
        }
        let dir = workspace.join("runs").join(run);
        if !dir.is_dir() {
            return Err(format!("cannot export {run}: {} is missing", dir.display()));
        }
        dirs.push(dir);
    }
    let out = hyperzoo_core::workspace::Workspace::new(workspace).exports();
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let name = if runs.len() == 1 {
        first.clone()
    } else {
        format!("compare-{}-runs", runs.len())
    };
    let stem = free_stem(&out, &format!("{name}-{}", utc_stamp(now)));
    let mut done = Exported {
        dir: out.clone(),
        written: Vec::new(),
        missing: Vec::new(),
    };
    let toml_path = out.join(format!("{stem}.toml"));
    let unevaluated: Vec<&str> = runs
        .iter()
        .zip(&dirs)
        .filter(|(_, d)| !d.join("results.toml").exists())
        .map(|(r, _)| r.as_str())
        .collect();
    if unevaluated.is_empty() {
        let results = hyperzoo_report::results_toml(&dirs).and_then(|text| {
            hyperzoo_core::fsutil::write_atomic(&toml_path, text.as_bytes()).map_err(Into::into)
        });
        match results {
            Ok(()) => done.written.push(toml_path),
            Err(e) => done.missing.push(format!("no results TOML: {e}")),
        }
    } else {
        done.missing.push(format!(
            "no results TOML: not evaluated yet: {} (`hyperzoo eval <run>`)",
            unevaluated.join(", ")
        ));
    }
    let opts = hyperzoo_report::PlotOptions::default();
    let mut plot_error = None;
    for ext in ["png", "svg"] {
        let path = out.join(format!("{stem}.{ext}"));
        match hyperzoo_report::loss_curves(&dirs, &path, &opts) {
            Ok(()) => done.written.push(path),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                plot_error.get_or_insert(format!("no loss plot: {e}"));
            }
        }
    }
    done.missing.extend(plot_error);
    if done.written.is_empty() {
        return Err(format!("nothing exported: {}", done.missing.join("; ")));
    }
    Ok(done)
}

/// Writes the ablation table as the Table view shows it to `<workspace>/exports/` as
/// `table-<UTC time>.toml` and `.csv` (the formats of `hyperzoo export --table`).
pub fn export_table(
    workspace: &Path,
    table: &hyperzoo_report::Ablation,
    now: SystemTime,
) -> Result<Exported, String> {
    let out = hyperzoo_core::workspace::Workspace::new(workspace).exports();
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let stem = free_stem(&out, &format!("table-{}", utc_stamp(now)));
    let mut done = Exported {
        dir: out.clone(),
        written: Vec::new(),
        missing: Vec::new(),
    };
    for (ext, text) in [("toml", table.to_toml()), ("csv", table.to_csv())] {
        let path = out.join(format!("{stem}.{ext}"));
        match hyperzoo_core::fsutil::write_atomic(&path, text.as_bytes()) {
            Ok(()) => done.written.push(path),
            Err(e) => done.missing.push(format!("no {ext}: {e}")),
        }
    }
    if done.written.is_empty() {
        return Err(format!("nothing exported: {}", done.missing.join("; ")));
    }
    Ok(done)
}

/// `stem`, or `stem-2`, `stem-3`, ... the first for which no export file exists in `dir`.
fn free_stem(dir: &Path, stem: &str) -> String {
    let taken = |s: &str| {
        ["toml", "png", "svg", "csv"]
            .iter()
            .any(|e| dir.join(format!("{s}.{e}")).exists())
    };
    if !taken(stem) {
        return stem.to_string();
    }
    (2..)
        .map(|i| format!("{stem}-{i}"))
        .find(|s| !taken(s))
        .expect("some suffix is free")
}

/// `YYYYMMDD-HHMMSS` in UTC.
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use std::time::Duration;

    #[test]
    fn utc_stamps() {
        let at = |s: u64| utc_stamp(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "19700101-000000");
        // 2000-02-29 12:34:56 (a leap day) and 2024-12-31 23:59:59.
        assert_eq!(at(951_827_696), "20000229-123456");
        assert_eq!(at(1_735_689_599), "20241231-235959");
    }

    #[test]
    fn one_run_writes_results_and_plots_and_a_second_export_does_not_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let (ws, _) = fixture::workspace(tmp.path());
        let now = UNIX_EPOCH + Duration::from_secs(1_735_689_599);
        let runs = ["quickstart".to_string()];
        let done = export(&ws, &runs, now).unwrap();
        let names: Vec<String> = done
            .written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "quickstart-20241231-235959.toml",
                "quickstart-20241231-235959.png",
                "quickstart-20241231-235959.svg"
            ]
        );
        assert!(done.missing.is_empty(), "{:?}", done.missing);
        let toml = std::fs::read_to_string(&done.written[0]).unwrap();
        assert_eq!(
            toml,
            std::fs::read_to_string(ws.join("runs/quickstart/results.toml")).unwrap()
        );
        assert!(
            std::fs::read(&done.written[1])
                .unwrap()
                .starts_with(b"\x89PNG")
        );
        assert!(
            std::fs::read_to_string(&done.written[2])
                .unwrap()
                .contains("<svg")
        );
        assert_eq!(
            done.summary(),
            format!(
                "wrote quickstart-20241231-235959.{{toml,png,svg}} in {}",
                ws.join("exports").display()
            )
        );
        let again = export(&ws, &runs, now).unwrap();
        assert!(
            again.written[0].ends_with("quickstart-20241231-235959-2.toml"),
            "{:?}",
            again.written
        );
    }

    #[test]
    fn runs_without_results_still_get_plots_and_bad_names_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (ws, _) = fixture::workspace(tmp.path());
        let now = SystemTime::now();
        let runs = [
            "gamma-loss.gamma=0.1".to_string(),
            "gamma-loss.gamma=0.5".to_string(),
        ];
        let done = export(&ws, &runs, now).unwrap();
        assert_eq!(done.written.len(), 2, "{done:?}");
        assert!(
            done.written[0]
                .to_string_lossy()
                .contains("compare-2-runs-")
        );
        assert!(
            done.summary().contains("no results TOML") && done.summary().contains("hyperzoo eval"),
            "{}",
            done.summary()
        );
        let e = export(&ws, &["../x".to_string()], now).unwrap_err();
        assert!(e.contains("not a run name"), "{e}");
        let e = export(&ws, &["nope".to_string()], now).unwrap_err();
        assert!(e.contains("nope") && e.contains("missing"), "{e}");
        assert!(export(&ws, &[], now).is_err());
        // A run with neither results nor metrics: nothing to write, and the reasons.
        std::fs::create_dir_all(ws.join("runs/empty")).unwrap();
        std::fs::write(ws.join("runs/empty/config.toml"), "name = \"empty\"\n").unwrap();
        let e = export(&ws, &["empty".to_string()], now).unwrap_err();
        assert!(
            e.contains("no results TOML") && e.contains("no loss plot"),
            "{e}"
        );
    }
}
