//! Weight-space augmentations and canonicalization: pure Rust on `f32` slices, one network being
//! its flat vector of length `P` (PyTorch state-dict order, see [`crate::arch`]) and a batch a
//! row-major `[N, P]` slice.
//!
//! - [`permute`]: the permutation groups of an architecture, derived from its [`ArchSpec`]
//!   (hidden units between consecutive parametric layers, with flatten blocks and global average
//!   pooling handled), and applying / drawing / inverting permutations. Permuting is
//!   function-preserving: the population forward gives the same logits (the engine's
//!   `tests/permutation.rs` checks this for every built-in).
//! - [`noise`]: additive (`x + σ·N(0,1)`, [R21]) and multiplicative (`x·(1 + σ·N(0,1))`, [RS])
//!   Gaussian noise.
//! - [`erase`]: random erasing of a slice / scattered entries of a flat vector ([R21]) and of a
//!   rectangle of a token window ([RS], torchvision semantics).
//! - [`canon`]: canonicalization by weight matching (git re-basin, Hungarian assignment per
//!   group) against a reference model ([RS]).
//!
//! Every random draw takes a caller's `rand::Rng`, so a seeded RNG recorded in the run's config
//! reproduces every view. The tags [R21], [RS] refer to reference.md's sources: [R21] the
//! NeurIPS 2021 hyper-representations code, [RS] the SANE code.
//!
//! [`ArchSpec`]: crate::arch::ArchSpec

pub mod canon;
pub mod erase;
pub mod noise;
pub mod permute;

pub use canon::{Matching, WeightMatching, canonicalize};
pub use erase::{EraseValue, RandomErasing, Rect, VectorEraseMode, VectorErasing};
pub use noise::Noise;
pub use permute::{PermGroup, PermutationGroups};
