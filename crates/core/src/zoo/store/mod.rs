//! The zoo store: a directory readable from Python without hyperzoo (see docs/zoo-format.md).
//!
//! ```text
//! <zoo>/zoo.toml                      manifest: name, arch, dataset, epochs, checkpoints, counts,
//!                                     versions, creation command, the definition's text, status
//! <zoo>/models.csv                    one row per network: id, split, population, hyperparameters
//! <zoo>/properties.csv                one row per (network, checkpoint epoch): status, losses,
//!                                     accuracies, generalisation gap
//! <zoo>/weights/epoch_NNNN.safetensors  tensor "weights" [models, params] f32, PyTorch order
//! <zoo>/parts/pop_NNNN/               work in progress of one population (removed on finish):
//!     epoch_NNNN.safetensors, properties.csv, state.safetensors (resume), done
//! ```
//! Every file is written atomically. A generation that is killed leaves finished populations
//! marked `done` and the others with their last epoch's state, so running it again resumes.
//!
//! Here the layout; in `format` the manifest and the CSV tables, in `tensors` the weight
//! files, in `writer` the generation's writer (and `write_zoo` for a zoo written at once), in
//! `reader` the zoo opened for reading.
use super::def::{ModelSplit, ZooDef};
use crate::arch::ArchSpec;
use crate::fsutil::write_atomic;
use crate::{Error, Result};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod format;
mod reader;
mod tensors;
mod writer;

pub use format::*;
pub use reader::*;
pub use tensors::*;
pub use writer::*;

/// Format version of the store.
pub const FORMAT_VERSION: u32 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    const DEF: &str = r#"
        name = "tiny"
        arch = "tetris_mlp"
        dataset = "tetris"
        epochs = 1
        [models]
        max_population = 2
        [hparams]
        activation = "relu"
        init = "normal"
        optimizer = "sgd"
        lr = 0.1
        weight_decay = 0.0
        dropout = 0.0
        batch_size = 4
        [grid]
        seed = [1, 2, 3]
    "#;

    fn rec(id: usize, epoch: usize) -> Record {
        Record {
            id,
            epoch,
            status: NetStatus::Ok,
            train_loss: 1.0,
            train_acc: 0.5,
            val_loss: 1.0,
            val_acc: 0.5,
            test_loss: 1.0,
            test_acc: 0.4,
            ggap: 0.1,
        }
    }

    #[test]
    fn write_resume_finish_and_validate() {
        let dir = tempfile::tempdir().unwrap();
        let zdir = dir.path().join("z");
        let def = ZooDef::parse(Path::new("tiny.toml"), DEF).unwrap();
        let pops = def.populations();
        assert_eq!(pops.len(), 2);
        let w = ZooWriter::create_or_resume(&zdir, &def, HashMap::new(), "test").unwrap();
        for (k, (_, ids)) in pops.iter().enumerate() {
            for epoch in [0, 1] {
                let weights: Vec<f32> = ids
                    .iter()
                    .flat_map(|&i| (0..100).map(move |j| (i * 1000 + j + epoch) as f32))
                    .collect();
                let recs: Vec<Record> = ids.iter().map(|&i| rec(i, epoch)).collect();
                w.write_checkpoint(k, epoch, &weights, ids.len(), &recs)
                    .unwrap();
            }
            if k == 0 {
                w.mark_done(0).unwrap();
            }
        }
        // Unfinished population 1: finishing fails and says so; reopening resumes.
        let e = w.finish(&def).unwrap_err().to_string();
        assert!(e.contains("[1]"), "{e}");
        let w = ZooWriter::create_or_resume(&zdir, &def, HashMap::new(), "test").unwrap();
        assert!(w.is_done(0) && !w.is_done(1));
        w.mark_done(1).unwrap();
        let zoo = w.finish(&def).unwrap();
        assert_eq!(zoo.records.len(), 6);
        let e1 = zoo.weights(1).unwrap();
        assert_eq!(e1[2 * 100 + 5], (2 * 1000 + 5 + 1) as f32);
        assert!(!zdir.join("parts").exists());
        // A different definition in the same directory is refused.
        let other =
            ZooDef::parse(Path::new("tiny.toml"), &DEF.replace("lr = 0.1", "lr = 0.2")).unwrap();
        assert!(
            ZooWriter::create_or_resume(&zdir, &other, HashMap::new(), "x")
                .unwrap_err()
                .to_string()
                .contains("different")
        );
        // A NaN in a network not recorded as diverged, and a truncated file, are named errors.
        let path = zdir.join("weights/epoch_0001.safetensors");
        let mut bad = e1.clone();
        bad[150] = f32::NAN;
        write_tensors(&path, &[("weights", &bad, vec![3, 100])]).unwrap();
        let e = zoo.weights(1).unwrap_err().to_string();
        assert!(
            e.contains("epoch_0001.safetensors") && e.contains("model 1") && e.contains("index 50"),
            "{e}"
        );
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        let e = zoo.weights(1).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        assert!(
            zoo.weights(7)
                .unwrap_err()
                .to_string()
                .contains("checkpoint epoch")
        );
    }
}
