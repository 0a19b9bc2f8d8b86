//! Model zoos on the engine side: the population forward (N networks of one
//! [`ArchSpec`](hyperzoo_core::arch::ArchSpec) evaluated together from an `[N, P]` weight matrix).
pub mod dataset;
pub mod forward;
pub mod init;
/// The native CPU path of zoo training (the `hyperzoo-kernels` crate).
pub use hyperzoo_kernels as native;
pub mod train;

pub use forward::{BatchStats, Dropout, Input, PopulationNet};
