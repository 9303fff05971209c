//! Writing Arrow batches to data files (Parquet, CSV, JSON lines), the format following
//! the file's extension: what commands write when their output is a file, not a table.

use arrow::record_batch::RecordBatch;

use risklake_core::{Error, Result};

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
        use crate::FileFormat;
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
