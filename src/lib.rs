//! The `drydock` command line, as a library so integration tests and benches
//! can drive it without spawning processes.
//!
//! # Layout
//! * [`cli`] — argument parsing (clap) and one module per subcommand.
pub mod cli;
