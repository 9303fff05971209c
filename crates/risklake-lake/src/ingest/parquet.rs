//! Parquet files: typed already; `--schema` overrides are applied as checked casts.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use risklake_core::{Error, Result};

use super::{BatchSource, ReadOptions, Rejected};

pub struct ParquetSource {
    path: String,
    reader: ParquetRecordBatchReader,
    schema: SchemaRef,
    rows: u64,
    total_rows: u64,
    total_bytes: u64,
}

impl ParquetSource {
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<Self> {
        let display = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(format!("opening {display}"), e))?;
        let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| Error::invalid(format!("{display} is not a readable Parquet file: {e}")))?;
        let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let file_schema = builder.schema().clone();
        for (col, _) in &opts.schema_overrides {
            if file_schema.field_with_name(col).is_err() {
                return Err(Error::invalid(format!(
                    "--schema names column {col:?}, which {display} does not have"
                )));
            }
        }
        let schema = Arc::new(Schema::new(
            file_schema
                .fields()
                .iter()
                .map(|f| {
                    let dt = opts
                        .override_for(f.name())
                        .cloned()
                        .unwrap_or_else(|| f.data_type().clone());
                    Field::new(f.name(), dt, true)
                })
                .collect::<Vec<_>>(),
        ));
        let reader = builder
            .with_batch_size(opts.batch_rows.clamp(1024, 1 << 20))
            .build()
            .map_err(|e| Error::invalid(format!("{display}: {e}")))?;
        Ok(ParquetSource {
            path: display,
            reader,
            schema,
            rows: 0,
            total_rows,
            total_bytes,
        })
    }
}

impl BatchSource for ParquetSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        match self.reader.next() {
            None => Ok(None),
            Some(Err(e)) => Err(Error::invalid(format!(
                "{}, near row {}: {e}",
                self.path,
                self.rows + 1
            ))),
            Some(Ok(b)) => {
                let first_row = self.rows + 1;
                self.rows += b.num_rows() as u64;
                crate::conform::conform(&b, &self.schema, &self.path)
                    .map(Some)
                    .map_err(|e| Error::invalid(format!("{}, rows {first_row}..{}: {e}", self.path, self.rows)))
            }
        }
    }

    fn take_rejected(&mut self) -> Vec<Rejected> {
        Vec::new()
    }

    fn progress(&self) -> (u64, Option<u64>) {
        let share = if self.total_rows == 0 {
            1.0
        } else {
            self.rows as f64 / self.total_rows as f64
        };
        ((share * self.total_bytes as f64) as u64, Some(self.total_bytes))
    }
}
