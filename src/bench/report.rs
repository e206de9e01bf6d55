//! `drydock bench` reports: an aligned table for people, JSON for tools.
//!
//! Latencies are in microseconds. A request of a composite method
//! (`VolumeDriver.Mount+Unmount`) is both RPCs, back to back.

use super::{ErrorCount, MethodResult};
use serde::Serialize;

/// What was benchmarked and how.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// The plugin's name.
    pub plugin: String,
    /// Its address as dockerd stores it (`unix:///…`, `tcp://…`, `in-process`).
    pub address: String,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Independent engine clients (each keeps dockerd's two idle connections).
    pub connections: usize,
}

/// Latency percentiles of one method, in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Fastest request.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Slowest request.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// One method's line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct MethodReport {
    /// The method.
    pub method: String,
    /// Requests completed, failed ones included.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Failed requests by kind, each with an example.
    pub errors_by_kind: Vec<ErrorCount>,
    /// Measured seconds.
    pub seconds: f64,
    /// Requests per second.
    pub throughput_rps: f64,
    /// Latency percentiles (µs); all zero when nothing ran.
    pub latency_us: Latency,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was benchmarked.
    #[serde(flatten)]
    pub info: RunInfo,
    /// One entry per method, in the order run.
    pub methods: Vec<MethodReport>,
    /// Set-up that could not be undone (a volume left behind, …).
    pub warnings: Vec<String>,
}

fn micros(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

impl From<&MethodResult> for MethodReport {
    fn from(r: &MethodResult) -> Self {
        let h = &r.histogram;
        let empty = h.is_empty();
        let q = |q: f64| {
            if empty {
                0.0
            } else {
                micros(h.value_at_quantile(q))
            }
        };
        MethodReport {
            method: r.method.clone(),
            requests: r.requests,
            errors: r.error_count(),
            errors_by_kind: r.errors.clone(),
            seconds: r.elapsed.as_secs_f64(),
            throughput_rps: r.throughput(),
            latency_us: Latency {
                min: if empty { 0.0 } else { micros(h.min()) },
                p50: q(0.5),
                p90: q(0.9),
                p99: q(0.99),
                p99_9: q(0.999),
                max: if empty { 0.0 } else { micros(h.max()) },
                mean: if empty { 0.0 } else { h.mean() / 1000.0 },
            },
        }
    }
}

/// The column headings of the text table, in order.
pub const COLUMNS: [&str; 10] = [
    "METHOD", "REQUESTS", "ERRORS", "REQ/S", "MIN", "P50", "P90", "P99", "P99.9", "MAX",
];

fn us(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}ms", v / 1000.0)
    } else {
        format!("{v:.1}µs")
    }
}

impl Report {
    /// The table for people.
    pub fn text(&self) -> String {
        let i = &self.info;
        let mut out = format!(
            "plugin {} at {} — concurrency {}, connections {}\n",
            i.plugin, i.address, i.concurrency, i.connections
        );
        let width = self
            .methods
            .iter()
            .map(|m| m.method.chars().count())
            .chain([COLUMNS[0].len()])
            .max()
            .unwrap_or(6);
        let mut rows = vec![COLUMNS.map(String::from).to_vec()];
        for m in &self.methods {
            let l = &m.latency_us;
            rows.push(vec![
                m.method.clone(),
                m.requests.to_string(),
                m.errors.to_string(),
                format!("{:.0}", m.throughput_rps),
                us(l.min),
                us(l.p50),
                us(l.p90),
                us(l.p99),
                us(l.p99_9),
                us(l.max),
            ]);
        }
        for row in rows {
            out.push_str(&format!("{:<width$}", row[0]));
            for cell in &row[1..] {
                out.push_str(&format!(" {:>10}", cell));
            }
            out.push('\n');
        }
        let failing: Vec<&MethodReport> = self.methods.iter().filter(|m| m.errors > 0).collect();
        if !failing.is_empty() {
            out.push_str("\nerrors:\n");
            for m in failing {
                for e in &m.errors_by_kind {
                    out.push_str(&format!(
                        "  {}: {} × {} (e.g. {})\n",
                        m.method, e.count, e.kind, e.example
                    ));
                }
            }
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }

    /// The report for tools.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialize")
    }
}
