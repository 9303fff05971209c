//! Where a workflow writes the rows it produces: a lake table (created, or appended to /
//! overwritten when the request says so, in one atomic commit) or a data file.

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use risklake_core::{Error, Result};
use risklake_lake::files::FileWriter;
use risklake_lake::{Lake, TableName, TableSpec, TableWriter, WriteMode};

/// The destination of a workflow's rows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    /// A lake table (`db.table`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// A file (.parquet, .csv, .jsonl); exclusive with `table`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<std::path::PathBuf>,
    /// How to meet an existing table: `append` or `overwrite`. Without it an existing
    /// table is an error (nothing is replaced by accident).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<WriteMode>,
    /// Partition columns of a table this creates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_by: Vec<String>,
}

/// Opens a writer on the lake table `name`: a new table is created with `schema` and
/// `spec`; an existing one needs `mode`.
pub async fn open_table(
    lake: &Lake,
    name: &TableName,
    schema: &Schema,
    spec: &TableSpec,
    mode: Option<WriteMode>,
) -> Result<TableWriter> {
    if lake.exists(name).await? {
        if mode.is_none() {
            return Err(Error::param(
                "mode",
                format!("table {name} already exists; set mode to append or overwrite"),
            ));
        }
    } else if !lake.create_table_if_absent(name, schema, spec).await? && mode.is_none() {
        return Err(Error::param(
            "mode",
            format!("table {name} was created by another writer meanwhile; set mode to append or overwrite"),
        ));
    }
    lake.writer(name, mode.unwrap_or(WriteMode::Append)).await
}

/// An open destination: batches go in, [`Sink::finish`] commits (table) or closes
/// (file). Dropped without finishing, a table is left as it was and a partial file is
/// removed.
pub struct Sink {
    target: Target,
    rows: u64,
}

enum Target {
    Table {
        name: TableName,
        writer: TableWriter,
        lake: Lake,
        /// This sink created the table: it goes again when nothing is committed.
        created: bool,
    },
    File {
        path: std::path::PathBuf,
        writer: FileWriter,
    },
    Done,
}

/// What a finished sink wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Written {
    /// `db.table` or the file path.
    pub target: String,
    pub rows: u64,
    /// The lake snapshot made (tables only; `None` when nothing was written).
    pub snapshot: Option<i64>,
}

impl Sink {
    /// Opens `spec` for rows of `schema`.
    pub async fn open(ws: &crate::Workspace, spec: &OutputSpec, schema: SchemaRef) -> Result<Sink> {
        let target = match (&spec.table, &spec.file) {
            (Some(_), Some(_)) => return Err(Error::param("table", "give a table or a file, not both")),
            (Some(t), None) => {
                let name = ws.table_name(t)?;
                let table_spec = TableSpec {
                    partition_by: spec.partition_by.clone(),
                    ..Default::default()
                };
                let lake = ws.lake().await?;
                let existed = lake.exists(&name).await?;
                let writer = open_table(lake, &name, &schema, &table_spec, spec.mode).await?;
                Target::Table {
                    name,
                    writer,
                    lake: lake.clone(),
                    created: !existed,
                }
            }
            (None, Some(path)) => Target::File {
                path: path.clone(),
                writer: FileWriter::create(path, schema)?,
            },
            (None, None) => return Err(Error::param("table", "give a table or a file to write to")),
        };
        Ok(Sink { target, rows: 0 })
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match &mut self.target {
            Target::Table { writer, .. } => writer.write(batch).await?,
            Target::File { writer, .. } => writer.write(batch)?,
            Target::Done => return Err(Error::invalid("write after finish")),
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Commits or closes; returns what was written.
    pub async fn finish(mut self) -> Result<Written> {
        match std::mem::replace(&mut self.target, Target::Done) {
            Target::Table {
                name,
                writer,
                lake,
                created,
            } => {
                let s = match writer.commit().await {
                    Ok(s) => s,
                    Err(e) => {
                        drop_created(&lake, &name, created).await;
                        return Err(e);
                    }
                };
                Ok(Written {
                    target: name.to_string(),
                    rows: s.rows,
                    snapshot: s.snapshot,
                })
            }
            Target::File { path, writer } => {
                if let Err(e) = writer.finish() {
                    let _ = std::fs::remove_file(&path);
                    return Err(e);
                }
                Ok(Written {
                    target: path.display().to_string(),
                    rows: self.rows,
                    snapshot: None,
                })
            }
            Target::Done => Err(Error::invalid("finished twice")),
        }
    }

    /// Gives up: nothing is committed, a table this sink created is dropped again (unless
    /// another writer has committed to it meanwhile), a file is removed.
    pub async fn abandon(mut self) {
        match std::mem::replace(&mut self.target, Target::Done) {
            Target::Table {
                name,
                writer,
                lake,
                created,
            } => {
                drop(writer);
                drop_created(&lake, &name, created).await;
            }
            Target::File { path, writer } => {
                drop(writer);
                let _ = std::fs::remove_file(path);
            }
            Target::Done => {}
        }
    }
}

/// Drops a table the sink created, unless another writer has committed to it meanwhile.
async fn drop_created(lake: &Lake, name: &TableName, created: bool) {
    if created {
        let _ = lake.drop_if_unwritten(name).await;
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Target::File { path, .. } = &self.target {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Streams `input` through `map` into `spec` (one commit for a table), recording the
/// output dataset and the `rows` metric of `run`. `source` names the input in errors;
/// `label` names the progress stage. A cancellation or an error abandons the output.
#[allow(clippy::too_many_arguments)]
pub async fn write_mapped(
    ws: &crate::Workspace,
    run: risklake_track::RunId,
    mut input: risklake_lake::sql::BatchStream,
    source: &str,
    schema: SchemaRef,
    spec: &OutputSpec,
    label: &str,
    map: impl Fn(&RecordBatch) -> Result<RecordBatch>,
    progress: &dyn crate::Progress,
) -> Result<Written> {
    use futures::StreamExt;
    let mut sink = Sink::open(ws, spec, schema).await?;
    progress.stage(label, None, crate::Unit::Rows);
    let fed: Result<()> = async {
        while let Some(b) = input.next().await {
            crate::progress::check(progress)?;
            let b = b.map_err(|e| Error::external(format!("reading {source}"), e))?;
            let out = map(&b)?;
            sink.write(&out).await?;
            progress.advance(out.num_rows() as u64);
        }
        Ok(())
    }
    .await;
    progress.end_stage();
    let written = match fed {
        Ok(()) => sink.finish().await?,
        Err(e) => {
            sink.abandon().await;
            return Err(e);
        }
    };
    ws.store().log_dataset(
        run,
        &risklake_track::DatasetRef {
            role: "output".into(),
            name: written.target.clone(),
            snapshot: written.snapshot,
            rows: Some(written.rows as i64),
        },
    )?;
    ws.store().log_metric(run, "rows", None, written.rows as f64)?;
    Ok(written)
}
