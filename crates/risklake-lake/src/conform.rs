//! Fitting incoming batches to a table's schema: columns matched by name, cast where
//! the types differ, with errors that name the column and the problem.

use arrow::array::{new_null_array, ArrayRef};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use risklake_core::{Error, Result};

/// Returns `batch` with exactly the columns of `target`, in its order and types.
///
/// Columns are matched by name (exactly, else ignoring case). A column of the table that
/// the input lacks becomes all-null if nullable, else it is an error. An input column the
/// table lacks is an error, never silently dropped. Casts are checked: a value that does
/// not fit the table's type is an error, not a null.
pub fn conform(batch: &RecordBatch, target: &SchemaRef, table: &str) -> Result<RecordBatch> {
    let source = batch.schema();
    let find = |name: &str| {
        source
            .index_of(name)
            .ok()
            .or_else(|| source.fields().iter().position(|f| f.name().eq_ignore_ascii_case(name)))
    };
    let extra: Vec<&str> = source
        .fields()
        .iter()
        .filter(|f| !target.fields().iter().any(|t| t.name().eq_ignore_ascii_case(f.name())))
        .map(|f| f.name().as_str())
        .collect();
    if !extra.is_empty() {
        return Err(Error::invalid(format!(
            "the input has column(s) that table {table} does not: {}; add them first \
             (ALTER TABLE {table} ADD COLUMN ...) or select only the table's columns",
            extra.join(", ")
        )));
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(target.fields().len());
    for field in target.fields() {
        let column = match find(field.name()) {
            Some(i) => {
                let col = batch.column(i);
                if col.data_type() == field.data_type() {
                    col.clone()
                } else {
                    cast_with_options(col, field.data_type(), &options).map_err(|e| {
                        Error::invalid(format!(
                            "column {} of the input is {} and does not convert to the table's {} ({table}): {e}",
                            field.name(),
                            col.data_type(),
                            field.data_type()
                        ))
                    })?
                }
            }
            None if field.is_nullable() => new_null_array(field.data_type(), batch.num_rows()),
            None => {
                return Err(Error::invalid(format!(
                    "the input lacks column {} which table {table} requires (NOT NULL)",
                    field.name()
                )))
            }
        };
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(Error::invalid(format!(
                "column {} has {} null value(s) but is NOT NULL in table {table} (a primary-key column?)",
                field.name(),
                column.null_count()
            )));
        }
        columns.push(column);
    }
    RecordBatch::try_new(target.clone(), columns).map_err(|e| Error::arrow(format!("fitting a batch to {table}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn target() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("score", DataType::Float64, true),
            Field::new("note", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn reorders_casts_and_fills_missing_nullable() {
        let b = RecordBatch::try_from_iter([
            ("SCORE", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
            ("id", Arc::new(Int32Array::from(vec![10, 20])) as ArrayRef),
        ])
        .unwrap();
        let out = conform(&b, &target(), "t").unwrap();
        assert_eq!(out.schema(), target());
        assert_eq!(
            out.column(0).as_ref(),
            &Int64Array::from(vec![10, 20]) as &dyn arrow::array::Array
        );
        assert_eq!(
            out.column(1).as_ref(),
            &Float64Array::from(vec![1.0, 2.0]) as &dyn arrow::array::Array
        );
        assert_eq!(out.column(2).null_count(), 2);
    }

    #[test]
    fn errors_name_the_column() {
        let extra = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            ("surprise", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ])
        .unwrap();
        let e = conform(&extra, &target(), "db.t").unwrap_err().to_string();
        assert!(e.contains("surprise"), "{e}");
        let bad =
            RecordBatch::try_from_iter([("id", Arc::new(StringArray::from(vec!["1", "x"])) as ArrayRef)]).unwrap();
        let e = conform(&bad, &target(), "db.t").unwrap_err().to_string();
        assert!(e.contains("column id"), "{e}");
        let nulls =
            RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef)]).unwrap();
        let e = conform(&nulls, &target(), "db.t").unwrap_err().to_string();
        assert!(e.contains("NOT NULL"), "{e}");
        let missing =
            RecordBatch::try_from_iter([("score", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef)]).unwrap();
        assert!(conform(&missing, &target(), "db.t")
            .unwrap_err()
            .to_string()
            .contains("lacks column id"));
    }
}
