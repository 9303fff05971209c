//! JSON lines: one object per line; keys become columns (first-seen order), JSON types
//! are respected (strings stay strings), nested values are kept as JSON text.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use risklake_core::{Error, Result};

use super::convert::{Cell, Inferrer, RowBuilder};
use super::{inferred_schema, BatchSource, NullMarkers, ReadOptions, RejectSink, Rejected};

pub struct JsonLinesSource {
    path: String,
    reader: BufReader<File>,
    opts: ReadOptions,
    nulls: NullMarkers,
    names: Vec<String>,
    buffered: std::collections::VecDeque<(u64, String)>,
    line_no: u64,
    builder: RowBuilder,
    rejected: RejectSink,
    bytes: u64,
    total: u64,
}

fn cell_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(_) | Value::Object(_) => Some(v.to_string()),
        _ => None,
    }
}

impl JsonLinesSource {
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<Self> {
        let display = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(format!("opening {display}"), e))?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut names: Vec<String> = Vec::new();
        let mut samples: Vec<Map<String, Value>> = Vec::new();
        let mut buffered = std::collections::VecDeque::new();
        let mut line_no = 0u64;
        let mut bytes = 0u64;
        while buffered.len() < opts.infer_rows {
            let mut line = String::new();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| Error::io(format!("reading {display}"), e))?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            line_no += 1;
            if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line.trim()) {
                for k in obj.keys() {
                    if !names.contains(k) {
                        names.push(k.clone());
                    }
                }
                samples.push(obj);
            }
            buffered.push_back((line_no, line));
        }
        if names.is_empty() {
            return Err(Error::invalid(format!(
                "{display}: no JSON object found in the first {} lines",
                buffered.len()
            )));
        }
        let nulls = NullMarkers::new(&opts.null_markers);
        let mut inferrers = vec![Inferrer::default(); names.len()];
        for obj in &samples {
            for (inf, name) in inferrers.iter_mut().zip(&names) {
                let cell = match obj.get(name) {
                    None | Some(Value::Null) => Cell::Null,
                    Some(Value::Bool(b)) => Cell::Bool(*b),
                    Some(Value::Number(n)) => {
                        inf.observe(Cell::Num(&n.to_string()));
                        continue;
                    }
                    Some(Value::String(s)) => {
                        if nulls.is_null(s) {
                            Cell::Null
                        } else {
                            inf.observe(Cell::Str(s));
                            continue;
                        }
                    }
                    Some(v) => {
                        let s = v.to_string();
                        inf.observe(Cell::Str(&s));
                        continue;
                    }
                };
                inf.observe(cell);
            }
        }
        let schema = inferred_schema(&names, &inferrers, opts)?;
        Ok(JsonLinesSource {
            path: display,
            reader,
            opts: opts.clone(),
            nulls,
            names,
            buffered,
            line_no,
            builder: RowBuilder::new(schema)?,
            rejected: RejectSink::new(opts.on_error),
            bytes,
            total,
        })
    }

    fn reject(&mut self, line: u64, column: Option<String>, reason: String, raw: &str) -> Result<()> {
        let r = Rejected {
            source: self.path.clone(),
            line,
            column,
            reason,
            raw: raw.trim_end().to_string(),
        };
        self.rejected.reject(r)
    }

    fn take_line(&mut self, line_no: u64, line: &str) -> Result<()> {
        let text = line.trim();
        if text.is_empty() {
            return Ok(());
        }
        let obj = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return self.reject(line_no, None, "not a JSON object".into(), line),
            Err(e) => return self.reject(line_no, None, format!("invalid JSON: {e}"), line),
        };
        if let Some(k) = obj.keys().find(|k| !self.names.contains(k)) {
            let reason = format!(
                "key {k:?} is not a column (columns come from the first {} lines)",
                self.opts.infer_rows
            );
            return self.reject(line_no, Some(k.clone()), reason, line);
        }
        let texts: Vec<Option<String>> = self.names.iter().map(|n| obj.get(n).and_then(cell_text)).collect();
        let cells: Vec<Cell<'_>> = self
            .names
            .iter()
            .zip(&texts)
            .map(|(n, t)| match (obj.get(n), t) {
                (Some(Value::Bool(b)), _) => Cell::Bool(*b),
                (Some(Value::Number(_)), Some(t)) => Cell::Num(t),
                (Some(Value::String(_)), Some(t)) if self.nulls.is_null(t) => Cell::Null,
                (Some(_), Some(t)) => Cell::Str(t),
                _ => Cell::Null,
            })
            .collect();
        if let Err(e) = self.builder.push(&cells) {
            drop(cells);
            return self.reject(line_no, Some(e.column), e.reason, line);
        }
        Ok(())
    }
}

impl BatchSource for JsonLinesSource {
    fn schema(&self) -> SchemaRef {
        self.builder.schema()
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        while self.builder.len() < self.opts.batch_rows {
            if let Some((n, line)) = self.buffered.pop_front() {
                self.take_line(n, &line)?;
                continue;
            }
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|e| Error::io(format!("reading {}", self.path), e))?;
            if n == 0 {
                break;
            }
            self.bytes += n as u64;
            self.line_no += 1;
            self.take_line(self.line_no, &line)?;
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
}
