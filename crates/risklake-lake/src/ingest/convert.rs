//! Cells of text-like sources (CSV, JSON lines) to typed Arrow columns: type inference
//! over a sample, and conversion that rejects a row as a whole when one cell is bad.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{NaiveDate, NaiveDateTime};

use risklake_core::{Error, Result};

/// One cell as the source gives it.
#[derive(Clone, Copy, Debug)]
pub enum Cell<'a> {
    /// Missing (SQL NULL).
    Null,
    /// Untyped text (CSV): its type is whatever it parses as.
    Text(&'a str),
    /// A JSON string: stays a string unless it is a date or timestamp.
    Str(&'a str),
    /// A JSON number, as written.
    Num(&'a str),
    /// A JSON boolean.
    Bool(bool),
}

/// The column types text sources infer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Bool,
    Date,
    Timestamp,
    Utf8,
}

impl Kind {
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
            Kind::Bool => DataType::Boolean,
            Kind::Date => DataType::Date32,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::Utf8 => DataType::Utf8,
        }
    }

    /// The kind a target Arrow type is filled through, if we can fill it.
    pub fn of(dt: &DataType) -> Option<Kind> {
        Some(match dt {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => Kind::Int,
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => Kind::Int,
            DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) => Kind::Float,
            DataType::Boolean => Kind::Bool,
            DataType::Date32 | DataType::Date64 => Kind::Date,
            DataType::Timestamp(_, _) => Kind::Timestamp,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Kind::Utf8,
            _ => return None,
        })
    }

    fn sql_name(self) -> &'static str {
        match self {
            Kind::Int => "BIGINT",
            Kind::Float => "DOUBLE",
            Kind::Bool => "BOOLEAN",
            Kind::Date => "DATE",
            Kind::Timestamp => "TIMESTAMP",
            Kind::Utf8 => "STRING",
        }
    }
}

/// Parses a type name as used in `--schema col=type` overrides.
pub fn parse_type_name(s: &str) -> Result<DataType> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "int" | "integer" | "int32" => DataType::Int32,
        "bigint" | "long" | "int64" => DataType::Int64,
        "smallint" | "int16" => DataType::Int16,
        "tinyint" | "int8" => DataType::Int8,
        "double" | "float64" | "real" => DataType::Float64,
        "float" | "float32" => DataType::Float32,
        "bool" | "boolean" => DataType::Boolean,
        "string" | "text" | "varchar" | "utf8" => DataType::Utf8,
        "date" => DataType::Date32,
        "timestamp" | "datetime" => DataType::Timestamp(TimeUnit::Microsecond, None),
        other => {
            return Err(Error::invalid(format!(
                "unknown column type {other:?}; use one of int, bigint, smallint, tinyint, double, float, boolean, string, date, timestamp"
            )))
        }
    })
}

const INT: u8 = 1;
const FLOAT: u8 = 2;
const BOOL: u8 = 4;
const DATE: u8 = 8;
const TS: u8 = 16;

/// Narrows the candidate types of a column, one sampled cell at a time.
#[derive(Clone, Debug)]
pub struct Inferrer {
    candidates: u8,
    seen: bool,
}

impl Default for Inferrer {
    fn default() -> Self {
        Inferrer {
            candidates: INT | FLOAT | BOOL | DATE | TS,
            seen: false,
        }
    }
}

impl Inferrer {
    pub fn observe(&mut self, cell: Cell<'_>) {
        let possible = match cell {
            Cell::Null => return,
            Cell::Text(s) => {
                let mut m = 0;
                if parse_int(s).is_some() {
                    m |= INT | FLOAT;
                } else if parse_float(s).is_some() {
                    m |= FLOAT;
                }
                if parse_bool(s).is_some() {
                    m |= BOOL;
                }
                if looks_like_date(s) {
                    if parse_date(s).is_some() {
                        m |= DATE;
                    }
                    if parse_timestamp(s).is_some() {
                        m |= TS;
                    }
                }
                m
            }
            Cell::Str(s) => {
                let mut m = 0;
                if parse_date(s).is_some() {
                    m |= DATE;
                }
                if parse_timestamp(s).is_some() {
                    m |= TS;
                }
                m
            }
            Cell::Num(s) => {
                if parse_int(s).is_some() {
                    INT | FLOAT
                } else {
                    FLOAT
                }
            }
            Cell::Bool(_) => BOOL,
        };
        self.seen = true;
        self.candidates &= possible;
    }

    pub fn kind(&self) -> Kind {
        let c = self.candidates;
        if !self.seen {
            Kind::Utf8
        } else if c & INT != 0 {
            Kind::Int
        } else if c & FLOAT != 0 {
            Kind::Float
        } else if c & BOOL != 0 {
            Kind::Bool
        } else if c & DATE != 0 {
            Kind::Date
        } else if c & TS != 0 {
            Kind::Timestamp
        } else {
            Kind::Utf8
        }
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    // "007" is an identifier more often than a number; leading zeros stay text.
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    t.parse().ok()
}

fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
    if unsigned.len() > 1 && unsigned.starts_with('0') && unsigned.as_bytes()[1].is_ascii_digit() {
        return None; // "007", "0123.5": identifiers, not numbers
    }
    // Infinities and NaN as the words numeric tools write (`inf`, `-inf`, `Infinity`,
    // `NaN`, any case); other words are text.
    let word = unsigned.to_ascii_lowercase();
    if word == "inf" || word == "infinity" {
        return Some(if t.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if word == "nan" && unsigned.len() == t.len() {
        return Some(f64::NAN);
    }
    // Otherwise only plain decimal notation.
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    t.parse().ok()
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A cheap test before trying the date formats: `YYYY-` after optional spaces.
fn looks_like_date(s: &str) -> bool {
    let b = s.trim_start().as_bytes();
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

fn parse_date(s: &str) -> Option<i32> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    Some((d - NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days() as i32)
}

fn parse_timestamp(s: &str) -> Option<i64> {
    let t = s.trim().trim_end_matches('Z');
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(ts) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(ts.and_utc().timestamp_micros());
        }
    }
    None
}

enum Builder {
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
    Utf8(StringBuilder),
}

/// A converted cell, staged until the whole row has converted. Text is a range of the
/// builder's scratch buffer, so a row costs no allocation.
#[derive(Clone, Copy, Debug)]
enum Parsed {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(i32),
    Ts(i64),
    Utf8(usize, usize),
}

/// Why one cell could not be converted.
#[derive(Clone, Debug)]
pub struct CellError {
    pub column: String,
    pub reason: String,
}

/// Builds typed batches from rows of cells. Each row is checked whole before any of it
/// is appended, so a bad row leaves no trace in the batch.
pub struct RowBuilder {
    schema: SchemaRef,
    /// The schema of the final batches (targets like Int32 are reached by a cast).
    target: SchemaRef,
    kinds: Vec<Kind>,
    builders: Vec<Builder>,
    staged: Vec<Parsed>,
    scratch: String,
    rows: usize,
}

impl RowBuilder {
    /// A builder for `target` (every column must be of a type [`Kind::of`] knows).
    pub fn new(target: SchemaRef) -> Result<Self> {
        let mut kinds = Vec::new();
        let mut fields = Vec::new();
        for f in target.fields() {
            let kind = Kind::of(f.data_type()).ok_or_else(|| {
                Error::invalid(format!(
                    "column {}: type {} cannot be read from text",
                    f.name(),
                    f.data_type()
                ))
            })?;
            kinds.push(kind);
            fields.push(Field::new(f.name(), kind.data_type(), true));
        }
        let mut b = RowBuilder {
            schema: Arc::new(Schema::new(fields)),
            target,
            kinds,
            builders: Vec::new(),
            staged: Vec::new(),
            scratch: String::new(),
            rows: 0,
        };
        b.reset();
        Ok(b)
    }

    fn reset(&mut self) {
        self.builders = self
            .kinds
            .iter()
            .map(|k| match k {
                Kind::Int => Builder::Int(Int64Builder::new()),
                Kind::Float => Builder::Float(Float64Builder::new()),
                Kind::Bool => Builder::Bool(BooleanBuilder::new()),
                Kind::Date => Builder::Date(Date32Builder::new()),
                Kind::Timestamp => Builder::Ts(TimestampMicrosecondBuilder::new()),
                Kind::Utf8 => Builder::Utf8(StringBuilder::new()),
            })
            .collect();
        self.rows = 0;
    }

    /// Rows appended since the last [`RowBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The target schema.
    pub fn schema(&self) -> SchemaRef {
        self.target.clone()
    }

    /// Appends one row, or says which cell is bad (the row is then not appended).
    pub fn push(&mut self, cells: &[Cell<'_>]) -> std::result::Result<(), CellError> {
        debug_assert_eq!(cells.len(), self.kinds.len());
        self.staged.clear();
        self.scratch.clear();
        for (i, (cell, kind)) in cells.iter().zip(&self.kinds).enumerate() {
            let parsed = convert(*cell, *kind, &mut self.scratch).ok_or_else(|| {
                let value = match cell {
                    Cell::Text(s) | Cell::Str(s) | Cell::Num(s) => s.to_string(),
                    Cell::Bool(b) => b.to_string(),
                    Cell::Null => String::new(),
                };
                CellError {
                    column: self.schema.field(i).name().clone(),
                    reason: format!("cannot read {value:?} as {}", kind.sql_name()),
                }
            })?;
            if matches!(parsed, Parsed::Null) && !self.target.field(i).is_nullable() {
                return Err(CellError {
                    column: self.schema.field(i).name().clone(),
                    reason: "missing value in a NOT NULL column".into(),
                });
            }
            self.staged.push(parsed);
        }
        for (b, p) in self.builders.iter_mut().zip(self.staged.drain(..)) {
            match (b, p) {
                (Builder::Int(b), Parsed::Int(v)) => b.append_value(v),
                (Builder::Float(b), Parsed::Float(v)) => b.append_value(v),
                (Builder::Bool(b), Parsed::Bool(v)) => b.append_value(v),
                (Builder::Date(b), Parsed::Date(v)) => b.append_value(v),
                (Builder::Ts(b), Parsed::Ts(v)) => b.append_value(v),
                (Builder::Utf8(b), Parsed::Utf8(start, end)) => b.append_value(&self.scratch[start..end]),
                (Builder::Int(b), _) => b.append_null(),
                (Builder::Float(b), _) => b.append_null(),
                (Builder::Bool(b), _) => b.append_null(),
                (Builder::Date(b), _) => b.append_null(),
                (Builder::Ts(b), _) => b.append_null(),
                (Builder::Utf8(b), _) => b.append_null(),
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows so far as a batch of the target schema; the builder starts over.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = std::mem::take(&mut self.builders)
            .into_iter()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Int(mut b) => Arc::new(b.finish()),
                    Builder::Float(mut b) => Arc::new(b.finish()),
                    Builder::Bool(mut b) => Arc::new(b.finish()),
                    Builder::Date(mut b) => Arc::new(b.finish()),
                    Builder::Ts(mut b) => Arc::new(b.finish()),
                    Builder::Utf8(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        self.reset();
        let batch =
            RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| Error::arrow("building a batch", e))?;
        if self.schema == self.target {
            return Ok(batch);
        }
        crate::conform::conform(&batch, &self.target, "the requested schema")
    }
}

fn convert(cell: Cell<'_>, kind: Kind, scratch: &mut String) -> Option<Parsed> {
    let mut text = |s: &str| {
        let start = scratch.len();
        scratch.push_str(s);
        Parsed::Utf8(start, scratch.len())
    };
    Some(match (cell, kind) {
        (Cell::Null, _) => Parsed::Null,
        (Cell::Bool(b), Kind::Bool) => Parsed::Bool(b),
        (Cell::Bool(b), Kind::Utf8) => text(if b { "true" } else { "false" }),
        (Cell::Bool(_), _) => return None,
        (Cell::Text(s) | Cell::Num(s), Kind::Int) => Parsed::Int(s.trim().parse().ok()?),
        (Cell::Text(s) | Cell::Num(s), Kind::Float) => Parsed::Float(parse_float(s)?),
        (Cell::Text(s), Kind::Bool) => Parsed::Bool(parse_bool(s)?),
        (Cell::Text(s) | Cell::Str(s), Kind::Date) => Parsed::Date(parse_date(s)?),
        (Cell::Text(s) | Cell::Str(s), Kind::Timestamp) => Parsed::Ts(parse_timestamp(s)?),
        (Cell::Text(s) | Cell::Str(s) | Cell::Num(s), Kind::Utf8) => text(s),
        (Cell::Str(s), Kind::Int) => Parsed::Int(s.trim().parse().ok()?),
        (Cell::Str(s), Kind::Float) => Parsed::Float(parse_float(s)?),
        (Cell::Str(s), Kind::Bool) => Parsed::Bool(parse_bool(s)?),
        (Cell::Num(_), _) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer(cells: &[Cell<'_>]) -> Kind {
        let mut i = Inferrer::default();
        for c in cells {
            i.observe(*c);
        }
        i.kind()
    }

    #[test]
    fn infers_the_narrowest_type() {
        assert_eq!(infer(&[Cell::Text("1"), Cell::Text("-2"), Cell::Null]), Kind::Int);
        assert_eq!(infer(&[Cell::Text("1"), Cell::Text("2.5")]), Kind::Float);
        assert_eq!(infer(&[Cell::Text("1e3")]), Kind::Float);
        assert_eq!(infer(&[Cell::Text("007")]), Kind::Utf8, "leading zeros stay text");
        assert_eq!(infer(&[Cell::Text("true"), Cell::Text("FALSE")]), Kind::Bool);
        assert_eq!(infer(&[Cell::Text("2024-01-31")]), Kind::Date);
        assert_eq!(
            infer(&[Cell::Text("2024-01-31 10:00:00"), Cell::Text("2024-01-31T10:00:00.5Z")]),
            Kind::Timestamp
        );
        assert_eq!(infer(&[Cell::Text("1"), Cell::Text("x")]), Kind::Utf8);
        assert_eq!(
            infer(&[
                Cell::Text("1.5"),
                Cell::Text("inf"),
                Cell::Text("-Infinity"),
                Cell::Text("NaN")
            ]),
            Kind::Float
        );
        assert_eq!(infer(&[Cell::Text("1"), Cell::Text("-inf")]), Kind::Float);
        assert_eq!(infer(&[Cell::Text("info")]), Kind::Utf8);
        assert_eq!(infer(&[Cell::Text("-nan")]), Kind::Utf8);
        assert_eq!(parse_float(" -inf "), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float("+Inf"), Some(f64::INFINITY));
        assert!(parse_float("nan").unwrap().is_nan());
        assert_eq!(infer(&[Cell::Null]), Kind::Utf8);
        assert_eq!(infer(&[Cell::Str("123")]), Kind::Utf8, "JSON strings stay strings");
        assert_eq!(infer(&[Cell::Num("1"), Cell::Num("2.0")]), Kind::Float);
    }

    #[test]
    fn bad_cell_rejects_the_whole_row() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Float64, true),
            Field::new("k", DataType::Int32, false),
        ]));
        let mut b = RowBuilder::new(schema.clone()).unwrap();
        b.push(&[Cell::Text("1"), Cell::Text("2.5"), Cell::Text("3")]).unwrap();
        let e = b
            .push(&[Cell::Text("2"), Cell::Text("abc"), Cell::Text("4")])
            .unwrap_err();
        assert_eq!(e.column, "b");
        assert!(e.reason.contains("\"abc\""), "{}", e.reason);
        let e = b.push(&[Cell::Text("2"), Cell::Null, Cell::Null]).unwrap_err();
        assert_eq!(e.column, "k");
        b.push(&[Cell::Null, Cell::Null, Cell::Text("5")]).unwrap();
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), schema);
        assert_eq!(batch.column(0).null_count(), 1);
        let e = RowBuilder::new(Arc::new(Schema::new(vec![Field::new("x", DataType::Binary, true)])));
        assert!(e.is_err());
    }
}
