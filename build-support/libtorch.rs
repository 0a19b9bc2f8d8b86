//! Build script shared by every package that links burn-tch (see ../shared/toolchain.md §7).
//!
//! 1. torch-sys passes `-Wl,-rpath` only to its own static library, so final binaries and test
//!    executables would not find libtorch at run time. We add a RUNPATH to the *real*
//!    `torch/lib` (not the `.libtorch` symlink view: glibc expands libtorch's own `$ORIGIN`
//!    RPATH from the path it was loaded through, and the nvidia runtime libs would be missed).
//! 2. We record the libtorch version (from `include/torch/version.h`) and the burn version
//!    (from Cargo.lock) as compile-time env vars for `hyperzoo doctor`.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let mut libtorch_version = String::from("none (built without the tch feature)");
    let mut cuda_linked = false;
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        let lib = Path::new(&lib);
        let real = std::fs::canonicalize(lib.join("libtorch_cpu.so"))
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| lib.to_path_buf());
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", real.display());
        // PyPI wheels carry torch/version.py ("2.9.0+cu128"); plain libtorch has the C++ header.
        let version_py = real.join("../version.py");
        let header = lib.join("../include/torch/csrc/api/include/torch/version.h");
        println!("cargo:rerun-if-changed={}", version_py.display());
        libtorch_version = std::fs::read_to_string(&version_py)
            .ok()
            .and_then(|py| parse_python_version(&py))
            .or_else(|| {
                std::fs::read_to_string(&header)
                    .ok()
                    .and_then(|h| parse_torch_header(&h))
            })
            .unwrap_or_else(|| "unknown".into());
        // torch-sys links libtorch_cuda exactly when it is in the lib dir (toolchain.md §1a).
        cuda_linked = lib.join("libtorch_cuda.so").exists();
    }
    println!("cargo:rustc-env=HYPERZOO_LIBTORCH_VERSION={libtorch_version}");
    println!(
        "cargo:rustc-env=HYPERZOO_LIBTORCH_CUDA_LINKED={}",
        if cuda_linked { "yes" } else { "no" }
    );

    let lock = workspace_lock();
    if let Some(lock) = &lock {
        println!("cargo:rerun-if-changed={}", lock.display());
    }
    let burn = lock
        .and_then(|l| std::fs::read_to_string(l).ok())
        .and_then(|text| lock_version(&text, "burn"))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HYPERZOO_BURN_VERSION={burn}");
}

/// `__version__ = '2.9.0+cu128'` in torch/version.py.
fn parse_python_version(py: &str) -> Option<String> {
    py.lines().find_map(|l| {
        let rest = l
            .trim()
            .strip_prefix("__version__")?
            .trim()
            .strip_prefix('=')?;
        Some(
            rest.trim()
                .trim_matches(|c| c == '\'' || c == '"')
                .to_string(),
        )
    })
}

/// The `TORCH_VERSION_{MAJOR,MINOR,PATCH}` defines of libtorch's version.h.
fn parse_torch_header(header: &str) -> Option<String> {
    let define = |name: &str| {
        header.lines().find_map(|l| {
            let rest = l.trim().strip_prefix("#define ")?.strip_prefix(name)?;
            Some(rest.trim().to_string())
        })
    };
    Some(format!(
        "{}.{}.{}",
        define("TORCH_VERSION_MAJOR ")?,
        define("TORCH_VERSION_MINOR ")?,
        define("TORCH_VERSION_PATCH ")?
    ))
}

fn workspace_lock() -> Option<PathBuf> {
    let mut dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").ok()?);
    loop {
        let lock = dir.join("Cargo.lock");
        if lock.exists() {
            return Some(lock);
        }
        if !dir.pop() {
            return None;
        }
    }
}

fn lock_version(lock: &str, package: &str) -> Option<String> {
    let needle = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == needle {
            let v = lines.next()?.trim().strip_prefix("version = ")?;
            return Some(v.trim_matches('"').to_string());
        }
    }
    None
}
