//! drydock-engine: a simulated dockerd 20.10, as its plugins see it.
#![warn(missing_docs)]

pub mod scenario;
