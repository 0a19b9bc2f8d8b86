//! Hyper-representations: autoencoders over zoo weights, their losses and training.
pub mod nn;
pub mod model;
pub mod data;
pub mod loss;
pub mod optim;
pub mod train;
