//! The Model Zoos layout (Schürholt et al., NeurIPS 2022 Datasets & Benchmarks; the zoos of
//! the 2021/2022 hyper-representation papers), as ray tune wrote it:
//!
//! ```text
//! <zoo>/[<experiment>/]<trial>/params.json                       the trial's config
//! <zoo>/[<experiment>/]<trial>/result.json                       JSON lines, one per epoch,
//!                                                                keyed by training_iteration
//! <zoo>/[<experiment>/]<trial>/checkpoint_NNNNNN/checkpoints     torch.save(state_dict)
//! ```
//!
//! Checkpoints are read with `pytorch-reader`, which parses the pickle without executing it.
//! Tensors are mapped to the architecture's layers **by order** (keys sorted numerically, weight
//! before bias), never by key name: the CNN's keys move when dropout layers are present
//! (module_list.{0,3,6,9,11} without dropout, {0,4,8,11,14} with). ResNets (torchvision's
//! names, as the Model Zoos' ResNet-18 zoos have them) sort in their state-dict order: `conv1`,
//! `bn1`, `layer1` … `layer4` (in each block `conv1`, `bn1`, `conv2`, `bn2`, `downsample`), `fc`;
//! a batch norm's `running_mean` and `running_var` follow its weight and bias, and
//! `num_batches_tracked` is left out. A ResNet's activation is ReLU when params.json names none. The result line of epoch
//! e is the one with `training_iteration == e`; the generators' `-999` placeholder (train
//! metrics before any training) becomes NaN. Trial directories are taken in sorted order.
use super::{
    ImportOptions, Imported, dataset_from_hint, manifest, model_rows, record, select_epochs,
};
use crate::arch::{ArchSpec, BUILTINS, Layer, RESIDUAL_BUILTINS};
use crate::zoo::store::NetStatus;
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// How params.json keys map to hyperzoo's hyperparameter names.
const KEY_MAP: &[(&str, &str)] = &[
    ("seed", "seed"),
    ("model::nlin", "activation"),
    ("model::init_type", "init"),
    ("optim::optimizer", "optimizer"),
    ("optim::lr", "lr"),
    ("optim::wd", "weight_decay"),
    ("model::dropout", "dropout"),
    ("training::batchsize", "batch_size"),
];

/// One trial directory.
struct Trial {
    dir: PathBuf,
    config: serde_json::Map<String, serde_json::Value>,
    results: BTreeMap<usize, [f64; 6]>,
    checkpoints: BTreeMap<usize, PathBuf>,
}

/// Imports a zoo in the Model Zoos layout from `src`.
pub fn import(src: &Path, opts: &ImportOptions) -> Result<Imported> {
    let mut dirs = trial_dirs(src)?;
    if let Some(m) = opts.max_models {
        dirs.truncate(m);
    }
    let trials: Vec<Trial> = dirs.iter().map(|d| read_trial(d)).collect::<Result<_>>()?;
    let available: BTreeSet<usize> = trials
        .iter()
        .flat_map(|t| t.checkpoints.keys().copied())
        .collect();
    let epochs = select_epochs(available, opts, src)?;
    let first_ckpt = trials
        .iter()
        .find_map(|t| t.checkpoints.values().next())
        .ok_or_else(|| Error::format(src, "no checkpoint_*/checkpoints file in any trial"))?;
    let arch = match &opts.arch {
        Some(a) => a.clone(),
        None => infer_arch(first_ckpt)?,
    };
    let layout = arch.layout()?;
    let p = layout.total;
    let n = trials.len();
    let mut weights: Vec<(usize, Vec<f32>)> =
        epochs.iter().map(|&e| (e, vec![f32::NAN; n * p])).collect();
    let mut records = Vec::new();
    for (id, t) in trials.iter().enumerate() {
        for (k, &epoch) in epochs.iter().enumerate() {
            let metrics = t.results.get(&epoch).copied().unwrap_or([f64::NAN; 6]);
            let status = match t.checkpoints.get(&epoch) {
                None => NetStatus::Missing,
                Some(path) => {
                    let flat = read_state_dict(path, &arch)?;
                    let ok = flat.iter().all(|v| v.is_finite());
                    weights[k].1[id * p..(id + 1) * p].copy_from_slice(&flat);
                    if ok {
                        NetStatus::Ok
                    } else {
                        NetStatus::Diverged
                    }
                }
            };
            records.push(record(id, epoch, status, metrics));
        }
    }
    let mut per_model: Vec<HashMap<String, String>> = trials.iter().map(hparams).collect();
    if arch.is_residual_or_norm() {
        // torchvision's ResNets are ReLU networks; their zoos' configs do not say so.
        for m in &mut per_model {
            m.entry("activation".into())
                .or_insert_with(|| "relu".into());
        }
    }
    let dataset = opts
        .dataset
        .as_deref()
        .map(super::canonical_dataset)
        .unwrap_or_else(|| {
            let hint = trials[0]
                .config
                .get("dataset::dump")
                .or_else(|| trials[0].config.get("training::data_path"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| src.display().to_string());
            dataset_from_hint(&hint)
        });
    let max_epoch = epochs.iter().copied().max().unwrap_or(0);
    let mut rows = model_rows(&per_model, opts);
    for (row, t) in rows.iter_mut().zip(&trials) {
        let name = t.dir.file_name().unwrap_or_default().to_string_lossy();
        row.hparams.push(("source".into(), name.into_owned()));
    }
    Ok(Imported {
        manifest: manifest(
            super::Kind::ModelZoos,
            opts,
            arch,
            dataset,
            max_epoch,
            format!("modelzoos {}", src.display()),
        )?,
        rows,
        weights,
        records,
    })
}

/// Trial directories (holding params.json) in `src` or one level below, sorted.
fn trial_dirs(src: &Path) -> Result<Vec<PathBuf>> {
    let list = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|e| Error::io("listing", d, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        v.sort();
        Ok(v)
    };
    let mut found: Vec<PathBuf> = list(src)?
        .into_iter()
        .filter(|d| d.join("params.json").is_file())
        .collect();
    if found.is_empty() {
        for sub in list(src)? {
            found.extend(
                list(&sub)?
                    .into_iter()
                    .filter(|d| d.join("params.json").is_file()),
            );
        }
    }
    if found.is_empty() {
        return Err(Error::format(
            src,
            "no model directories (holding params.json) here or one level below: not a zoo in the Model Zoos layout",
        ));
    }
    Ok(found)
}

fn read_trial(dir: &Path) -> Result<Trial> {
    let path = dir.join("params.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
    let config = match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(m)) => m,
        Ok(_) => return Err(Error::format(&path, "expected a JSON object")),
        Err(e) => return Err(Error::format(&path, format!("invalid JSON: {e}"))),
    };
    let path = dir.join("result.json");
    let mut results = BTreeMap::new();
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| Error::format(&path, format!("line {}: invalid JSON: {e}", i + 1)))?;
            let it = v
                .get("training_iteration")
                .and_then(|x| x.as_u64())
                .ok_or_else(|| {
                    Error::format(&path, format!("line {}: no training_iteration", i + 1))
                })?;
            let m = |k: &str| {
                v.get(k)
                    .and_then(|x| x.as_f64())
                    .filter(|x| *x != -999.0)
                    .unwrap_or(f64::NAN)
            };
            results.insert(
                it as usize,
                [
                    m("train_loss"),
                    m("train_acc"),
                    m("val_loss"),
                    m("val_acc"),
                    m("test_loss"),
                    m("test_acc"),
                ],
            );
        }
    }
    let mut checkpoints = BTreeMap::new();
    for e in std::fs::read_dir(dir)
        .map_err(|e| Error::io("listing", dir, e))?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(epoch) = name
            .strip_prefix("checkpoint_")
            .and_then(|s| s.parse::<usize>().ok())
        {
            let file = e.path().join("checkpoints");
            if file.is_file() {
                checkpoints.insert(epoch, file);
            }
        }
    }
    Ok(Trial {
        dir: dir.into(),
        config,
        results,
        checkpoints,
    })
}

fn hparams(t: &Trial) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in &t.config {
        let value = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(x) => x.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        let name = KEY_MAP
            .iter()
            .find(|(src, _)| src == k)
            .map(|(_, ours)| ours.to_string())
            .unwrap_or_else(|| k.clone());
        out.insert(name, value);
    }
    out
}

/// The parameter tensors of a state dict in layer order: (key, shape, reader).
fn ordered_params(path: &Path) -> Result<Vec<(String, pytorch_reader::Tensor)>> {
    let reader = pytorch_reader::PytorchReader::new(path).map_err(|e| {
        Error::format(
            path,
            format!("not a readable torch checkpoint (corrupt or truncated?): {e}"),
        )
    })?;
    let mut entries: Vec<(String, pytorch_reader::Tensor)> = reader
        .into_tensors()
        .into_iter()
        .filter(|(k, _)| {
            [".weight", ".bias", ".running_mean", ".running_var"]
                .iter()
                .any(|leaf| k.ends_with(leaf))
        })
        .collect();
    entries.sort_by_cached_key(|(k, _)| key_order(k));
    Ok(entries)
}

/// Sort key: the module path with numeric components compared as numbers and torchvision's
/// ResNet module names in their definition order, then weight, bias, running mean, running
/// variance.
fn key_order(key: &str) -> (Vec<(u64, String)>, u8) {
    const RESNET: &[&str] = &[
        "conv1",
        "bn1",
        "conv2",
        "bn2",
        "conv3",
        "bn3",
        "downsample",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "fc",
    ];
    let (module, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let parts = module
        .split('.')
        .map(|c| match c.parse::<u64>() {
            Ok(n) => (n, String::new()),
            Err(_) => match RESNET.iter().position(|&r| r == c) {
                Some(rank) => (u64::MAX - 100 + rank as u64, String::new()),
                None => (u64::MAX, c.to_string()),
            },
        })
        .collect();
    let leaf = match leaf {
        "weight" => 0,
        "bias" => 1,
        "running_mean" => 2,
        _ => 3,
    };
    (parts, leaf)
}

/// Expected (shape, is_bias) of the architecture's tensors in state-dict order.
fn expected_tensors(arch: &ArchSpec) -> Result<Vec<Vec<usize>>> {
    let layout = arch.layout()?;
    let mut v = Vec::new();
    for l in &layout.params {
        v.push(l.weight_shape.clone());
        if l.bias_offset.is_some() {
            v.push(vec![l.out]);
        }
        if l.buffers_offset.is_some() {
            v.extend([vec![l.out], vec![l.out]]);
        }
    }
    Ok(v)
}

/// `arch` with `classes` outputs (a ResNet-18 zoo of CIFAR-100 has 100), named for them.
fn with_classes(arch: ArchSpec, classes: usize) -> ArchSpec {
    let mut arch = arch;
    if let Some(Layer::Linear { out, .. }) = arch.layers.last_mut() {
        *out = classes;
    }
    arch.name = format!("{}_c{classes}", arch.name);
    arch
}

fn infer_arch(path: &Path) -> Result<ArchSpec> {
    let found: Vec<Vec<usize>> = ordered_params(path)?
        .iter()
        .map(|(_, t)| t.shape().to_vec())
        .collect();
    let names = || BUILTINS.iter().chain(RESIDUAL_BUILTINS);
    for name in names() {
        let arch = ArchSpec::builtin(name).expect("built-in");
        if expected_tensors(&arch)? == found {
            return Ok(arch);
        }
    }
    // A residual built-in with another number of classes (the last tensor, the classifier's
    // bias, says how many).
    if let Some(&[classes]) = found.last().map(Vec::as_slice) {
        for name in RESIDUAL_BUILTINS {
            let arch = with_classes(ArchSpec::builtin(name).expect("built-in"), classes);
            if expected_tensors(&arch)? == found {
                return Ok(arch);
            }
        }
    }
    let names: Vec<&str> = names().copied().collect();
    Err(Error::format(
        path,
        format!(
            "its tensor shapes {found:?} match no built-in architecture ({}); pass --arch <name or TOML file>",
            names.join(", ")
        ),
    ))
}

/// Reads a state dict into the flat layout of `arch`, checking every shape.
pub fn read_state_dict(path: &Path, arch: &ArchSpec) -> Result<Vec<f32>> {
    let entries = ordered_params(path)?;
    let expected = expected_tensors(arch)?;
    if entries.len() != expected.len() {
        return Err(Error::format(
            path,
            format!(
                "{} weight/bias tensors ({:?}), but architecture '{}' has {}",
                entries.len(),
                entries.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
                arch.name,
                expected.len()
            ),
        ));
    }
    let mut flat = Vec::with_capacity(arch.param_count()?);
    for ((key, t), shape) in entries.iter().zip(&expected) {
        if t.shape() != shape.as_slice() {
            return Err(Error::format(
                path,
                format!(
                    "tensor '{key}' has shape {:?}, architecture '{}' expects {shape:?} here",
                    t.shape(),
                    arch.name
                ),
            ));
        }
        let bytes = t
            .read()
            .map_err(|e| Error::format(path, format!("reading tensor '{key}': {e}")))?;
        use pytorch_reader::DType;
        match t.dtype() {
            DType::F32 => flat.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_ne_bytes(c.try_into().expect("4 bytes"))),
            ),
            DType::F64 => flat.extend(
                bytes
                    .chunks_exact(8)
                    .map(|c| f64::from_ne_bytes(c.try_into().expect("8 bytes")) as f32),
            ),
            other => {
                return Err(Error::format(
                    path,
                    format!("tensor '{key}' is {other:?}; expected float32 or float64"),
                ));
            }
        }
    }
    Ok(flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resnet_keys_sort_in_state_dict_order() {
        let order = [
            "model.conv1.weight",
            "model.bn1.weight",
            "model.bn1.bias",
            "model.bn1.running_mean",
            "model.bn1.running_var",
            "model.layer1.0.conv1.weight",
            "model.layer1.0.bn1.weight",
            "model.layer1.0.conv2.weight",
            "model.layer1.0.bn2.running_var",
            "model.layer1.1.conv1.weight",
            "model.layer2.0.conv1.weight",
            "model.layer2.0.bn2.bias",
            "model.layer2.0.downsample.0.weight",
            "model.layer2.0.downsample.1.weight",
            "model.layer2.0.downsample.1.running_var",
            "model.layer4.1.bn2.weight",
            "model.fc.weight",
            "model.fc.bias",
        ];
        let mut keys = order.to_vec();
        keys.reverse();
        keys.sort_by_key(|k| key_order(k));
        assert_eq!(keys, order);
    }

    #[test]
    fn keys_sort_numerically_weight_first() {
        let mut keys = vec![
            "module_list.11.bias",
            "module_list.4.weight",
            "module_list.11.weight",
            "module_list.0.bias",
            "module_list.0.weight",
        ];
        keys.sort_by_key(|k| key_order(k));
        assert_eq!(
            keys,
            vec![
                "module_list.0.weight",
                "module_list.0.bias",
                "module_list.4.weight",
                "module_list.11.weight",
                "module_list.11.bias"
            ]
        );
    }
}
