//! drydock-engine (being written)
