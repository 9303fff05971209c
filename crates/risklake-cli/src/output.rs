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

/// Arrow batches as a JSON array of row objects.
pub fn batches_json(batches: &[RecordBatch]) -> Result<Value> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::ArrayWriter::new(&mut buf);
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        w.write_batches(&refs).map_err(|e| Error::arrow("writing JSON", e))?;
        w.finish().map_err(|e| Error::arrow("writing JSON", e))?;
    }
    if buf.is_empty() {
        return Ok(Value::Array(vec![]));
    }
    serde_json::from_slice(&buf).map_err(|e| Error::invalid(format!("formatting JSON: {e}")))
}

/// Arrow batches as CSV text (with header).
pub fn batches_csv(batches: &[RecordBatch], out: &mut dyn std::io::Write) -> Result<()> {
    let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(out);
    for b in batches {
        w.write(b).map_err(|e| Error::arrow("writing CSV", e))?;
    }
    Ok(())
}

/// Writes batches to a file whose format follows its extension.
pub fn write_file(path: &std::path::Path, schema: arrow::datatypes::SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let mut w = FileWriter::create(path, schema)?;
    for b in batches {
        w.write(b)?;
    }
    w.finish()
}

/// A streaming writer of Parquet, CSV or JSON-lines files.
pub enum FileWriter {
    Parquet(parquet::arrow::ArrowWriter<std::fs::File>),
    Csv(arrow::csv::Writer<std::io::BufWriter<std::fs::File>>),
    Json(arrow::json::LineDelimitedWriter<std::io::BufWriter<std::fs::File>>),
}

impl FileWriter {
    pub fn create(path: &std::path::Path, schema: arrow::datatypes::SchemaRef) -> Result<Self> {
        use risklake_lake::FileFormat;
        let format = FileFormat::of(path).ok_or_else(|| {
            Error::invalid(format!(
                "{}: unknown output type; use .parquet, .csv or .jsonl",
                path.display()
            ))
        })?;
        let file = std::fs::File::create(path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        Ok(match format {
            FileFormat::Parquet => {
                let props = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::SNAPPY)
                    // Row groups of 128k rows: readers can stream the file a group at a
                    // time instead of holding a whole million-row group in memory.
                    .set_max_row_group_row_count(Some(131_072))
                    .build();
                FileWriter::Parquet(
                    parquet::arrow::ArrowWriter::try_new(file, schema, Some(props))
                        .map_err(|e| Error::invalid(format!("writing {}: {e}", path.display())))?,
                )
            }
            FileFormat::Csv => FileWriter::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(std::io::BufWriter::new(file)),
            ),
            FileFormat::JsonLines => {
                FileWriter::Json(arrow::json::LineDelimitedWriter::new(std::io::BufWriter::new(file)))
            }
        })
    }

    pub fn write(&mut self, b: &RecordBatch) -> Result<()> {
        match self {
            FileWriter::Parquet(w) => w.write(b).map_err(|e| Error::invalid(format!("writing Parquet: {e}"))),
            FileWriter::Csv(w) => w.write(b).map_err(|e| Error::arrow("writing CSV", e)),
            FileWriter::Json(w) => w.write(b).map_err(|e| Error::arrow("writing JSON", e)),
        }
    }

    pub fn finish(self) -> Result<()> {
        match self {
            FileWriter::Parquet(w) => w
                .close()
                .map(|_| ())
                .map_err(|e| Error::invalid(format!("closing Parquet: {e}"))),
            FileWriter::Csv(w) => {
                let mut inner = w.into_inner();
                std::io::Write::flush(&mut inner).map_err(|e| Error::io("flushing CSV", e))
            }
            FileWriter::Json(mut w) => w.finish().map_err(|e| Error::arrow("closing JSON", e)),
        }
    }
}
