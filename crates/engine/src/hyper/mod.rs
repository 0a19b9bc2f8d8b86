//! Hyper-representations: autoencoders over zoo weights, their losses and training.
pub mod nn;
pub mod model;
