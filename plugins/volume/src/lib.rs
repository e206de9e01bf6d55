//! drydock-volume (being written)
