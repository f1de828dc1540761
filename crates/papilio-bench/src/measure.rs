//! Measuring: latency histograms, CPU time and peak memory of this process, the report.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

use crate::BenchOptions;

/// Latencies of one kind of operation, in microseconds.
#[derive(Debug, Clone)]
pub struct Latencies {
    hist: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        // One microsecond to one minute, three significant digits.
        let hist = Histogram::new_with_bounds(1, 60_000_000, 3)
            .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable_histogram()));
        Latencies { hist }
    }
}

fn unreachable_histogram() -> Histogram<u64> {
    // Histogram::new(3) only fails for more than 5 significant digits; keep clippy content.
    Histogram::new(2).unwrap_or_else(|_| std::process::abort())
}

impl Latencies {
    /// Records one operation.
    pub fn record(&mut self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self.hist.record(micros.min(60_000_000));
    }

    /// Adds another set.
    pub fn merge(&mut self, other: &Latencies) {
        let _ = self.hist.add(&other.hist);
    }

    /// Operations recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The latency at quantile `q` (0 to 1), in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

/// CPU seconds (user + system) this process has used so far.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of this process in MiB.
pub fn peak_rss_mib() -> f64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return 0.0 };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One measured operation kind of a workload.
#[derive(Debug, Clone)]
pub struct Row {
    /// Workload name.
    pub workload: String,
    /// Operation kind within it (`read`, `write`, `all`).
    pub op: String,
    /// Operations completed.
    pub ops: u64,
    /// Units of work per operation (lines per order...), 1 when the operation is the unit.
    pub units_per_op: u64,
    /// Wall time.
    pub seconds: f64,
    /// CPU seconds of the whole process over the workload (server and clients).
    pub cpu_seconds: f64,
    /// Latencies.
    pub latencies: Latencies,
    /// Peak RSS after the workload, MiB.
    pub peak_rss_mib: f64,
    /// What the functional check found.
    pub check: String,
}

impl Row {
    /// Operations per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 { (self.ops * self.units_per_op) as f64 / self.seconds } else { 0.0 }
    }

    /// Operations per CPU-second.
    pub fn rate_per_cpu(&self) -> f64 {
        if self.cpu_seconds > 0.0 {
            (self.ops * self.units_per_op) as f64 / self.cpu_seconds
        } else {
            0.0
        }
    }
}

/// The result of a bench run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Backend.
    pub backend: String,
    /// Clients.
    pub concurrency: usize,
    /// Demo scale.
    pub scale: u32,
    /// Rows.
    pub rows: Vec<Row>,
}

impl Report {
    /// An empty report for `options`.
    pub fn new(options: &BenchOptions) -> Report {
        Report {
            backend: if options.postgres.is_some() { "postgres" } else { "sqlite" }.to_owned(),
            concurrency: options.concurrency,
            scale: options.scale,
            rows: Vec::new(),
        }
    }

    /// The report as a text table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "backend {} · {} clients · demo scale {}\n{:<10} {:<10} {:>9} {:>10} {:>10} {:>8} {:>9} {:>9} {:>9} {:>8}  check\n",
            self.backend,
            self.concurrency,
            self.scale,
            "workload",
            "op",
            "ops",
            "rate/s",
            "rate/cpu-s",
            "cpu-s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "rss MiB"
        );
        for r in &self.rows {
            out.push_str(&format!(
                "{:<10} {:<10} {:>9} {:>10.1} {:>10.1} {:>8.2} {:>9.2} {:>9.2} {:>9.2} {:>8.1}  {}\n",
                r.workload, r.op, r.ops, r.rate(), r.rate_per_cpu(), r.cpu_seconds,
                r.latencies.ms(0.5), r.latencies.ms(0.99), r.latencies.ms(0.999), r.peak_rss_mib, r.check
            ));
        }
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "backend": self.backend,
            "concurrency": self.concurrency,
            "scale": self.scale,
            "rows": self.rows.iter().map(|r| json!({
                "workload": r.workload,
                "op": r.op,
                "ops": r.ops,
                "units_per_op": r.units_per_op,
                "seconds": r.seconds,
                "rate": r.rate(),
                "rate_per_cpu_second": r.rate_per_cpu(),
                "cpu_seconds": r.cpu_seconds,
                "p50_ms": r.latencies.ms(0.5),
                "p99_ms": r.latencies.ms(0.99),
                "p999_ms": r.latencies.ms(0.999),
                "peak_rss_mib": r.peak_rss_mib,
                "check": r.check,
            })).collect::<Vec<_>>(),
        })
    }
}
