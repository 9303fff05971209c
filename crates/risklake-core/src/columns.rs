//! Finding columns by name, with errors that list what is there.

use arrow::datatypes::Schema;

use crate::{Error, Result};

/// The error for a column `name` that `schema` lacks: `what` names its role ("label
/// column", "feature column") and the message lists the columns there are.
pub fn missing_column(schema: &Schema, name: &str, what: &str) -> Error {
    Error::invalid(format!(
        "{what} '{name}' is not in the table; its columns are: {}",
        schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The position of the field `name` (case-sensitive, then case-insensitive), or
/// [`missing_column`]'s error.
pub fn field_index(schema: &Schema, name: &str, what: &str) -> Result<usize> {
    schema
        .index_of(name)
        .ok()
        .or_else(|| schema.fields().iter().position(|f| f.name().eq_ignore_ascii_case(name)))
        .ok_or_else(|| missing_column(schema, name, what))
}
