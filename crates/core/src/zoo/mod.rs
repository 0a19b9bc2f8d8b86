//! Model zoos, the parts that need no tensors: definitions in TOML (architecture, dataset,
//! hyperparameter grid, epochs, split) and the on-disk store.
mod def;
pub mod export;
pub mod import;
pub mod store;

pub use def::{
    DATASETS, DataSection, HPARAM_KEYS, Hparams, InitScheme, ModelSplit, OptimizerKind,
    PATH_DATASETS, PopulationKey, ZooDef,
};
