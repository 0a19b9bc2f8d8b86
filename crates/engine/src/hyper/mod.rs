//! Hyper-representations: autoencoders over zoo weights, their losses and training.
pub mod data;
pub mod eval;
pub mod fused;
pub mod generate;
pub mod loss;
pub mod model;
pub mod nn;
pub mod optim;
mod tensors;
pub mod train;
