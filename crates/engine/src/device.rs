//! Run-time device selection. `auto` picks CUDA device 0 when libtorch sees a GPU, else the CPU.
//! Always gate CUDA on [`cuda_available`]: a CPU-only libtorch panics on the first CUDA tensor
//! (toolchain.md §1e), so asking for one here fails early with an error that says what to do.
#![allow(deprecated)] // burn-tch and `Device::libtorch*` are deprecated upstream; the user chose them.

use crate::{Error, Result};
use burn::prelude::Device;
use hyperzoo_core::device::DeviceSpec;

/// The burn version this binary was built with (from Cargo.lock).
pub const BURN_VERSION: &str = env!("HYPERZOO_BURN_VERSION");
/// The libtorch version linked (from the torch wheel), or a note when built without `tch`.
pub const LIBTORCH_VERSION: &str = env!("HYPERZOO_LIBTORCH_VERSION");
/// Whether libtorch_cuda was linked (setup with `LIBTORCH_MODE=cuda`).
pub const LIBTORCH_CUDA_LINKED: bool =
    matches!(env!("HYPERZOO_LIBTORCH_CUDA_LINKED").as_bytes(), b"yes");

/// Name of the compiled-in backend used for tensors.
pub fn backend_name() -> &'static str {
    if cfg!(feature = "tch") {
        "LibTorch (burn-tch)"
    } else {
        "flex (pure Rust)"
    }
}

/// Number of CUDA devices libtorch sees (0 in CPU-only builds and on machines without a GPU).
pub fn cuda_device_count() -> usize {
    #[cfg(feature = "tch")]
    {
        if tch::Cuda::is_available() {
            tch::Cuda::device_count().max(0) as usize
        } else {
            0
        }
    }
    #[cfg(not(feature = "tch"))]
    {
        0
    }
}

/// Whether at least one CUDA device can be used.
pub fn cuda_available() -> bool {
    cuda_device_count() > 0
}

/// A device resolved from a [`DeviceSpec`]: never `Auto`.
#[derive(Debug, Clone)]
pub struct ResolvedDevice {
    /// `Cpu` or `Cuda(n)`.
    pub spec: DeviceSpec,
    /// The burn device (without autodiff; call `.autodiff()` to train).
    pub device: Device,
}

impl std::fmt::Display for ResolvedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.spec, backend_name())
    }
}

/// LibTorch's intra-op thread count as the main thread sees it (recorded by [`resolve`]).
#[cfg(feature = "tch")]
static MAIN_THREADS: std::sync::OnceLock<i32> = std::sync::OnceLock::new();

/// Gives a worker thread (a run training in the background) the intra-op thread count of the
/// main thread: LibTorch's OpenMP settings are per thread, and a new thread otherwise computes
/// on fewer cores.
pub fn init_worker_thread() {
    #[cfg(feature = "tch")]
    if let Some(&n) = MAIN_THREADS.get() {
        tch::set_num_threads(n);
    }
}

/// Resolves a requested device, checking that CUDA devices exist.
pub fn resolve(spec: DeviceSpec) -> Result<ResolvedDevice> {
    #[cfg(feature = "tch")]
    let _ = MAIN_THREADS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i32;
        tch::get_num_threads().max(cores)
    });
    let concrete = match spec {
        DeviceSpec::Auto if cuda_available() => DeviceSpec::Cuda(0),
        DeviceSpec::Auto => DeviceSpec::Cpu,
        other => other,
    };
    match concrete {
        DeviceSpec::Cuda(i) => {
            let count = cuda_device_count();
            if i >= count {
                return Err(Error::Device {
                    requested: spec.to_string(),
                    reason: cuda_unavailable_reason(i, count),
                });
            }
            Ok(ResolvedDevice {
                spec: concrete,
                device: cuda_device(i),
            })
        }
        _ => Ok(ResolvedDevice {
            spec: DeviceSpec::Cpu,
            device: cpu_device(),
        }),
    }
}

fn cuda_unavailable_reason(i: usize, count: usize) -> String {
    if count > 0 {
        format!(
            "GPU index {i} out of range: libtorch sees {count} CUDA device(s) (cuda:0..cuda:{})",
            count - 1
        )
    } else if !cfg!(feature = "tch") {
        "this build has no CUDA backend (built with `flex`); build with the default `tch` feature"
            .into()
    } else if !LIBTORCH_CUDA_LINKED {
        "this build links the CPU-only libtorch view; on a GPU machine run \
         `LIBTORCH_MODE=cuda scripts/setup-libtorch.sh && cargo build` (or use --device cpu)"
            .into()
    } else {
        "libtorch sees no CUDA device (no NVIDIA GPU or driver for CUDA 12.8); use --device cpu"
            .into()
    }
}

/// Whether `device` is the CPU.
pub fn is_cpu(device: &Device) -> bool {
    *device == cpu_device()
}

fn cpu_device() -> Device {
    #[cfg(feature = "tch")]
    {
        Device::libtorch()
    }
    #[cfg(not(feature = "tch"))]
    {
        Device::flex()
    }
}

#[cfg_attr(not(feature = "tch"), allow(unused_variables))]
fn cuda_device(index: usize) -> Device {
    #[cfg(feature = "tch")]
    {
        Device::libtorch_cuda(index)
    }
    #[cfg(not(feature = "tch"))]
    {
        unreachable!("cuda_device_count() is 0 without the tch feature")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;
    use burn::tensor::TensorData;

    #[test]
    fn auto_resolves_to_a_concrete_device() {
        let d = resolve(DeviceSpec::Auto).unwrap();
        assert_ne!(d.spec, DeviceSpec::Auto);
        assert_eq!(d.spec == DeviceSpec::Cpu, !cuda_available());
    }

    #[test]
    fn tensor_round_trip_on_the_selected_device() {
        let d = resolve(DeviceSpec::Auto).unwrap();
        let values: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 2.0).collect();
        let t = Tensor::<2>::from_data(TensorData::new(values.clone(), [3, 4]), &d.device);
        assert_eq!(t.dims(), [3, 4]);
        let back: Vec<f32> = t.clone().into_data().try_to_vec().unwrap();
        assert_eq!(back, values);
        // A computation on the device: (x * 2 + 1) summed over rows.
        let s: Vec<f32> = (t * 2.0 + 1.0).sum_dim(1).into_data().try_to_vec().unwrap();
        let expect: Vec<f32> = values
            .chunks(4)
            .map(|r| r.iter().map(|v| v * 2.0 + 1.0).sum())
            .collect();
        assert_eq!(s, expect);
    }

    #[test]
    fn cuda_beyond_the_device_count_is_an_error_not_a_panic() {
        let n = cuda_device_count();
        let e = resolve(DeviceSpec::Cuda(n)).unwrap_err().to_string();
        assert!(e.contains(&format!("cuda:{n}")), "{e}");
    }

    #[test]
    fn versions_are_recorded_at_build_time() {
        assert!(BURN_VERSION.starts_with("0.22"), "{BURN_VERSION}");
        if cfg!(feature = "tch") {
            assert!(LIBTORCH_VERSION.starts_with("2.9.0"), "{LIBTORCH_VERSION}");
        }
    }
}
