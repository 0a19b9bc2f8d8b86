//! The device a run asks for: `auto`, `cpu`, `cuda` or `cuda:N`. Parsing lives here (no burn)
//! so configs and flags are validated anywhere; the engine turns a [`DeviceSpec`] into a burn
//! device at run time (auto = CUDA when libtorch sees a GPU, else CPU).
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// A requested compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    /// CUDA device 0 when available, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device N.
    Cuda(usize),
}

impl std::str::FromStr for DeviceSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidValue {
            what: "device".into(),
            value: s.into(),
            expected: "one of auto, cpu, cuda, cuda:N (N a GPU index)".into(),
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            other => {
                let idx = other.strip_prefix("cuda:").ok_or_else(bad)?;
                idx.parse().map(DeviceSpec::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("auto".parse::<DeviceSpec>().unwrap(), DeviceSpec::Auto);
        assert_eq!("CPU".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        for d in [DeviceSpec::Auto, DeviceSpec::Cpu, DeviceSpec::Cuda(2)] {
            assert_eq!(d.to_string().parse::<DeviceSpec>().unwrap(), d);
        }
    }

    #[test]
    fn rejects_garbage_with_the_accepted_forms() {
        for bad in ["tpu", "cuda:", "cuda:x", "cuda:-1"] {
            let e = bad.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("cuda:N"), "{e}");
        }
    }

    #[test]
    fn deserializes_from_toml() {
        #[derive(Deserialize)]
        struct C {
            device: DeviceSpec,
        }
        let c: C = toml::from_str("device = \"cuda:1\"").unwrap();
        assert_eq!(c.device, DeviceSpec::Cuda(1));
        let e = toml::from_str::<C>("device = \"mps\"")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("mps"), "{e}");
    }
}
