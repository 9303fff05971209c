//! Small Arrow helpers: find a column by name, read numbers as f64 and values as text.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use risklake_core::Result;

/// The column `name` of `batch` (case-sensitive, then case-insensitive), or an error that
/// lists the columns there are.
pub fn column<'a>(batch: &'a RecordBatch, name: &str, what: &str) -> Result<&'a ArrayRef> {
    Ok(batch.column(field_index(batch.schema_ref(), name, what)?))
}

pub use risklake_core::columns::field_index;

/// Whether a column of this type is binned as numbers (otherwise as categories).
pub fn is_numeric(dt: &DataType) -> bool {
    dt.is_numeric()
}

/// Whether a column of this type can be binned as categories.
pub fn is_categorical(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean | DataType::Dictionary(_, _)
    ) || dt.is_integer()
}

/// The column as Float64 (nulls stay null); an error for types that are not numbers.
pub fn to_f64(array: &ArrayRef) -> std::result::Result<ArrayRef, String> {
    if array.data_type() == &DataType::Float64 {
        return Ok(array.clone());
    }
    if !array.data_type().is_numeric() {
        return Err(format!("type {} is not numeric", array.data_type()));
    }
    cast_with_options(array, &DataType::Float64, &CastOptions::default()).map_err(|e| e.to_string())
}

/// The column as text (Utf8View), for categorical features of any type.
pub fn to_text(array: &ArrayRef) -> std::result::Result<ArrayRef, String> {
    match array.data_type() {
        DataType::Utf8View => Ok(array.clone()),
        _ => cast_with_options(array, &DataType::Utf8View, &CastOptions::default()).map_err(|e| e.to_string()),
    }
}

/// Row `i` of `array` as text, `None` when null.
pub fn value_string(array: &ArrayRef, i: usize) -> Option<String> {
    if array.is_null(i) {
        return None;
    }
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Some(array.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Some(array.as_string_view().value(i).to_string()),
        _ => {
            let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default()).ok()?;
            Some(formatter.value(i).to_string())
        }
    }
}
