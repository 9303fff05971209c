//! How results reach the user: one JSON document under `--json`, tables otherwise;
//! progress bars only on a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use risklake_core::{Error, Result};

/// Where output goes and in which form.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub json: bool,
    pub quiet: bool,
}

impl Out {
    /// Prints a command's result: `json` under `--json`, else the human rendering.
    pub fn emit(&self, json: Value, human: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_else(|_| json.to_string())
            );
        } else {
            let text = human();
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
    }

    /// A note for a person (stderr, so stdout stays clean), silent under `--json`.
    pub fn note(&self, msg: impl AsRef<str>) {
        if !self.json && !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }

    fn bars_enabled(&self) -> bool {
        !self.json && !self.quiet && std::io::stderr().is_terminal()
    }

    /// A progress bar over `total` units (bytes or rows), hidden when not wanted.
    pub fn bar(&self, total: Option<u64>, unit: Unit, msg: &str) -> ProgressBar {
        if !self.bars_enabled() {
            return ProgressBar::hidden();
        }
        let bar = match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::new_spinner(),
        };
        let template = match (total.is_some(), unit) {
            (true, Unit::Bytes) => "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
            (true, Unit::Rows) => "{msg} [{bar:30}] {human_pos}/{human_len} rows (elapsed {elapsed}, eta {eta})",
            (true, Unit::Iterations) => "{msg} [{bar:30}] {pos}/{len} iterations (elapsed {elapsed}, eta {eta})",
            (false, _) => "{spinner} {msg} {human_pos} rows (elapsed {elapsed})",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(msg.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Unit {
    Bytes,
    Rows,
    Iterations,
}

/// A two-column table of names and values.
pub fn kv_table<K: AsRef<str>, V: AsRef<str>>(rows: impl IntoIterator<Item = (K, V)>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    for (k, v) in rows {
        t.add_row(vec![k.as_ref(), v.as_ref()]);
    }
    t.to_string()
}

/// A table with a header.
pub fn grid(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(header.to_vec());
    for r in rows {
        t.add_row(r);
    }
    t.to_string()
}

/// Arrow batches as a text table.
pub fn batches_table(batches: &[RecordBatch]) -> Result<String> {
    arrow::util::pretty::pretty_format_batches(batches)
        .map(|t| t.to_string())
        .map_err(|e| Error::arrow("formatting rows", e))
}

pub use risklake_app::sql::batches_json;

/// Arrow batches as CSV text (with header).
pub fn batches_csv(batches: &[RecordBatch], out: &mut dyn std::io::Write) -> Result<()> {
    let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(out);
    for b in batches {
        w.write(b).map_err(|e| Error::arrow("writing CSV", e))?;
    }
    Ok(())
}

pub use risklake_lake::files::write_file;

/// The CLI's [`risklake_app::Progress`]: one indicatif bar per stage on a terminal,
/// notes on stderr; a cancelled run is stopped by SIGINT / SIGTERM (see `signals`).
pub struct Bars {
    out: Out,
    bar: std::sync::Mutex<Option<(ProgressBar, risklake_app::Unit)>>,
}

impl Bars {
    pub fn new(out: Out) -> Self {
        Bars {
            out,
            bar: std::sync::Mutex::new(None),
        }
    }

    fn with_bar(&self, f: impl FnOnce(&ProgressBar, risklake_app::Unit)) {
        if let Some((b, u)) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            f(b, *u);
        }
    }
}

fn bar_unit(u: risklake_app::Unit) -> Unit {
    match u {
        risklake_app::Unit::Bytes => Unit::Bytes,
        risklake_app::Unit::Rows => Unit::Rows,
        risklake_app::Unit::Iterations | risklake_app::Unit::Trials | risklake_app::Unit::Items => Unit::Iterations,
    }
}

impl risklake_app::Progress for Bars {
    fn stage(&self, name: &str, total: Option<u64>, unit: risklake_app::Unit) {
        let bar = self.out.bar(total, bar_unit(unit), name);
        let old = self.bar.lock().unwrap_or_else(|e| e.into_inner()).replace((bar, unit));
        if let Some((b, _)) = old {
            b.finish_and_clear();
        }
    }

    fn set_total(&self, total: u64) {
        self.with_bar(|b, u| {
            if b.is_hidden() {
                return;
            }
            let msg = b.message();
            let fresh = self.out.bar(Some(total), bar_unit(u), &msg);
            b.set_length(total);
            b.set_style(fresh.style());
            fresh.finish_and_clear();
        });
    }

    fn advance(&self, n: u64) {
        self.with_bar(|b, _| b.inc(n));
    }

    fn set_position(&self, position: u64) {
        self.with_bar(|b, _| b.set_position(position));
    }

    fn end_stage(&self) {
        if let Some((b, _)) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            b.finish_and_clear();
        }
    }

    fn note(&self, message: &str) {
        self.out.note(message);
    }

    fn cancelled(&self) -> bool {
        crate::signals::stop_requested()
    }
}
