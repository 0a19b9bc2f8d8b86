//! Model zoos on the engine side: the population forward (N networks of one
//! [`ArchSpec`](hyperzoo_core::arch::ArchSpec) evaluated together from an `[N, P]` weight matrix).
pub mod forward;

pub use forward::{Dropout, Input, PopulationNet};
