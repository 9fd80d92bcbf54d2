//! Properties of the secrets: randomness of every generated secret and
//! constant-time comparisons.

mod constant_time;
mod randomness;
