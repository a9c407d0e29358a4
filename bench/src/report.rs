//! Collecting figures and printing them beside their targets.

use std::time::Duration;

/// One measured figure.
pub(crate) struct Figure {
    name: String,
    value: String,
    target: String,
    /// `PASS`, `MISS`, `n/a` (a target this build cannot be measured against), or empty.
    result: &'static str,
}

/// Every figure of a run, printed at the end.
#[derive(Default)]
pub(crate) struct Report {
    figures: Vec<Figure>,
}

impl Report {
    /// Records a figure with a target; `pass` is whether the target was met.
    pub(crate) fn add(&mut self, name: &str, value: String, target: &str, pass: bool) {
        println!("  {name}: {value}");
        self.figures.push(Figure {
            name: name.into(),
            value,
            target: target.into(),
            result: if pass { "PASS" } else { "MISS" },
        });
    }

    /// Records a figure that has no target of its own (context for the others).
    pub(crate) fn info(&mut self, name: &str, value: String) {
        println!("  {name}: {value}");
        self.figures.push(Figure {
            name: name.into(),
            value,
            target: String::new(),
            result: "",
        });
    }

    /// Prints the summary table.
    pub(crate) fn print(&self) {
        println!();
        println!("{:<58} {:>22}  {:<22} result", "figure", "value", "target");
        for figure in &self.figures {
            println!(
                "{:<58} {:>22}  {:<22} {}",
                figure.name, figure.value, figure.target, figure.result
            );
        }
    }
}

/// The q-quantile (0..=1) of sorted durations.
pub(crate) fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// A duration in microseconds, one decimal.
pub(crate) fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}

/// A duration in milliseconds, two decimals.
pub(crate) fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}
