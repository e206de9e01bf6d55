//! How `drydock run` copes with a long scenario file: time per
//! `docker run --rm -v` lifecycle and peak memory, for files of growing
//! length, through the same streaming path as the CLI (the text transcript
//! is written, to a sink).
//!
//! ```sh
//! cargo run --release --example long_run                   # 3000 and 300000, in-process
//! cargo run --release --example long_run -- unix 300 3000  # over unix sockets
//! ```
//!
//! Sizes run in increasing order in one process; peak memory is the
//! process's high-water mark (Linux `VmHWM`), reset before each size where
//! the kernel allows it (`/proc/self/clear_refs`), so each figure is that
//! size's peak. docs/performance.md has the numbers.

use drydock::run::launch::TransportKind;
use drydock::run::report::TextWriter;
use drydock::run::{run_observed, RunOptions, ScenarioText};
use std::io::Write;
use std::time::Instant;

// As the drydock binary allocates.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The peak resident memory of this process in KiB (Linux), if known.
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn scenario(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let path = dir.join(format!("long-{n}.scenario"));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(f, "#@ plugin vol volume").unwrap();
    writeln!(f, "docker volume create -d vol vol1").unwrap();
    for _ in 0..n {
        writeln!(f, "docker run --rm -v vol1:/d busybox true").unwrap();
    }
    f.flush().unwrap();
    path
}

async fn run(path: &std::path::Path, transport: TransportKind) -> f64 {
    let opts = RunOptions {
        transport,
        ..RunOptions::default()
    };
    let text = ScenarioText::load(path).expect("a valid scenario");
    let mut out = TextWriter::new(std::io::sink());
    let t0 = Instant::now();
    let summary = run_observed(&text, &opts, &mut out).await;
    assert!(summary.passed(), "{:?}", summary.failures);
    t0.elapsed().as_secs_f64()
}

// One thread for the runner and the plugins, as `drydock run` does.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let transport = match args.first().map(String::as_str) {
        Some("unix") => {
            args.remove(0);
            TransportKind::Unix
        }
        Some("in-process") => {
            args.remove(0);
            TransportKind::InProcess
        }
        _ => TransportKind::InProcess,
    };
    let mut sizes: Vec<usize> = args.iter().map(|a| a.parse().expect("a number")).collect();
    if sizes.is_empty() {
        sizes = vec![3000, 300_000];
    }
    sizes.sort();
    let dir = tempfile::tempdir().unwrap();
    // The fixed cost: starting the plugin and creating the volume.
    let base = run(&scenario(dir.path(), 0), transport).await;
    println!("transport {transport:?}: fixed cost {:.1} ms", base * 1e3);
    for n in sizes {
        let path = scenario(dir.path(), n);
        // Start each size's peak afresh (where the kernel lets us).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let secs = run(&path, transport).await;
        std::fs::remove_file(&path).unwrap();
        let per = (secs - base).max(0.0) / n as f64 * 1e6;
        match peak_kib() {
            Some(kib) => println!(
                "{n:>8} lifecycles: {secs:>7.2} s, {per:>6.1} µs per lifecycle, peak memory {:.1} MB",
                kib as f64 / 1024.0
            ),
            None => println!("{n:>8} lifecycles: {secs:>7.2} s, {per:>6.1} µs per lifecycle"),
        }
    }
}
