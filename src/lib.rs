//! The `drydock` command line, as a library so integration tests and benches
//! can drive it without spawning processes.
//!
//! # Layout
//! * [`bench`] — `drydock bench`'s load generator, reports and plots.
//! * [`cli`] — argument parsing (clap) and one module per subcommand.
//! * [`diagram`] — sequence diagrams of runs (SVG, HTML, Mermaid).
//! * [`fuzz`] — `drydock fuzz`: random workloads, invariants, shrunk counterexamples;
//!   [`testplugins_broken`] — deliberately broken plugins it must catch.
//! * [`record`] — `drydock record`'s recording proxy and `drydock replay`.
//! * [`run`] — the scenario runner: plugins, steps, expectations, reports.
//! * [`shard`] — `--shard K/N`: which files and fuzz cases one CI machine runs.
//! * [`testplugins`] — plugins that answer like the recorders of `tests/golden/`
//!   ([`testplugins_ipam`] for IPAM).
pub mod bench;
pub mod cli;
pub mod diagram;
pub mod fuzz;
pub mod record;
pub mod run;
pub mod serve;
pub mod shard;
pub mod testplugins;
pub mod testplugins_broken;
pub mod testplugins_ipam;
