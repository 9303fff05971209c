//! CSV (and TSV) files: header, delimiter, quoting, null markers, inferred types with
//! per-column overrides; every bad row named by line and column.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use csv::{ByteRecord, ReaderBuilder};

use risklake_core::{Error, Result};

use super::convert::{Cell, Inferrer, RowBuilder};
use super::{inferred_schema, BatchSource, NullMarkers, ReadOptions, RejectSink, Rejected};

pub struct CsvSource {
    path: String,
    reader: csv::Reader<BufReader<File>>,
    opts: ReadOptions,
    nulls: NullMarkers,
    delimiter: u8,
    columns: usize,
    /// Records read for inference, replayed first.
    buffered: VecDeque<(u64, ByteRecord)>,
    builder: RowBuilder,
    rejected: RejectSink,
    bytes: u64,
    total: u64,
    done: bool,
    /// Columns with neither a `--schema` type nor a value (a header-only file).
    untyped: Vec<String>,
}

impl CsvSource {
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<Self> {
        let display = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(format!("opening {display}"), e))?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let is_tsv = display.to_ascii_lowercase().ends_with(".tsv");
        let delimiter = opts.delimiter.unwrap_or(if is_tsv { b'\t' } else { b',' });
        let mut reader = ReaderBuilder::new()
            .delimiter(delimiter)
            .quote(opts.quote)
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::with_capacity(1 << 20, file));
        let mut first = ByteRecord::new();
        let has_first = reader
            .read_byte_record(&mut first)
            .map_err(|e| csv_error(&display, e))?;
        if !has_first {
            return Err(Error::invalid(format!("{display} is empty: no header and no rows")));
        }
        let mut buffered = VecDeque::new();
        let names: Vec<String> = if opts.has_header {
            first
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let n = String::from_utf8_lossy(f)
                        .trim()
                        .trim_start_matches('\u{feff}')
                        .to_string();
                    if n.is_empty() {
                        format!("column_{}", i + 1)
                    } else {
                        n
                    }
                })
                .collect()
        } else {
            buffered.push_back((1, first.clone()));
            (1..=first.len()).map(|i| format!("column_{i}")).collect()
        };
        let columns = names.len();
        let nulls = NullMarkers::new(&opts.null_markers);
        let mut inferrers = vec![Inferrer::default(); columns];
        let mut sample = |rec: &ByteRecord| {
            if rec.len() != columns {
                return;
            }
            for (inf, f) in inferrers.iter_mut().zip(rec.iter()) {
                if let Ok(s) = std::str::from_utf8(f) {
                    inf.observe(if nulls.is_null(s) { Cell::Null } else { Cell::Text(s) });
                }
            }
        };
        for (_, r) in &buffered {
            sample(r);
        }
        while buffered.len() < opts.infer_rows {
            let mut rec = ByteRecord::new();
            if !reader.read_byte_record(&mut rec).map_err(|e| csv_error(&display, e))? {
                break;
            }
            sample(&rec);
            let line = rec.position().map(|p| p.line()).unwrap_or(0);
            buffered.push_back((line, rec));
        }
        let schema = inferred_schema(&names, &inferrers, opts)?;
        let untyped = if buffered.is_empty() {
            names
                .iter()
                .filter(|n| opts.override_for(n).is_none())
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        Ok(CsvSource {
            untyped,
            path: display,
            reader,
            opts: opts.clone(),
            nulls,
            delimiter,
            columns,
            buffered,
            builder: RowBuilder::new(schema)?,
            rejected: RejectSink::new(opts.on_error),
            bytes: 0,
            total,
            done: false,
        })
    }

    fn reject(&mut self, line: u64, column: Option<String>, reason: String, rec: &ByteRecord) -> Result<()> {
        let raw = rec
            .iter()
            .map(|f| String::from_utf8_lossy(f).to_string())
            .collect::<Vec<_>>()
            .join(&(self.delimiter as char).to_string());
        let r = Rejected {
            source: self.path.clone(),
            line,
            column,
            reason,
            raw,
        };
        self.rejected.reject(r)
    }

    fn take_record(&mut self, rec: ByteRecord, line: u64) -> Result<()> {
        if rec.len() != self.columns {
            // A lone empty line is not a row.
            if rec.len() == 1 && rec.get(0).is_some_and(|f| f.is_empty()) {
                return Ok(());
            }
            let reason = format!("expected {} fields, found {}", self.columns, rec.len());
            return self.reject(line, None, reason, &rec);
        }
        let mut cells = Vec::with_capacity(self.columns);
        for (i, f) in rec.iter().enumerate() {
            match std::str::from_utf8(f) {
                Ok(s) => cells.push(if self.nulls.is_null(s) {
                    Cell::Null
                } else {
                    Cell::Text(s)
                }),
                Err(_) => {
                    let name = self.builder.schema().field(i).name().clone();
                    return self.reject(line, Some(name), "not valid UTF-8".into(), &rec);
                }
            }
        }
        if let Err(e) = self.builder.push(&cells) {
            drop(cells);
            return self.reject(line, Some(e.column), e.reason, &rec);
        }
        Ok(())
    }
}

fn csv_error(path: &str, e: csv::Error) -> Error {
    match e.position() {
        Some(p) => Error::invalid(format!("{path}, line {}: {e}", p.line())),
        None => Error::invalid(format!("{path}: {e}")),
    }
}

impl BatchSource for CsvSource {
    fn schema(&self) -> SchemaRef {
        self.builder.schema()
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        while self.builder.len() < self.opts.batch_rows {
            if let Some((line, rec)) = self.buffered.pop_front() {
                self.take_record(rec, line)?;
                continue;
            }
            if self.done {
                break;
            }
            let mut rec = ByteRecord::new();
            if !self
                .reader
                .read_byte_record(&mut rec)
                .map_err(|e| csv_error(&self.path, e))?
            {
                self.done = true;
                self.bytes = self.total;
                break;
            }
            let pos = rec.position().cloned();
            self.bytes = pos.as_ref().map(|p| p.byte()).unwrap_or(self.bytes);
            self.take_record(rec, pos.map(|p| p.line()).unwrap_or(0))?;
        }
        if self.builder.is_empty() {
            return Ok(None);
        }
        self.builder.finish().map(Some)
    }

    fn take_rejected(&mut self) -> Vec<Rejected> {
        self.rejected.take()
    }

    fn progress(&self) -> (u64, Option<u64>) {
        (self.bytes, Some(self.total))
    }

    fn untyped_columns(&self) -> Vec<String> {
        self.untyped.clone()
    }
}
