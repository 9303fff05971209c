//! `Workspace`: a home's lake and project store, and every workflow of the layer.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::record_batch::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow_array::ffi_stream::ArrowArrayStreamReader;
use arrow_pyarrow::PyArrowType;
use futures::StreamExt;
use pyo3::prelude::*;

use risklake_app::{frames, jobs, registry, Workspace};
use risklake_core::Error;
use risklake_track::RunStatus;

use crate::{block_on, interruptible, json_value, to_py};

type Reader = Box<dyn RecordBatchReader + Send>;

fn json_text(py: Python<'_>, value: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| to_py(py, Error::invalid(format!("a report does not serialize: {e}"))))
}

/// Batches as a reader pyarrow takes over (`pyarrow.RecordBatchReader`).
pub(crate) fn reader(schema: arrow::datatypes::SchemaRef, batches: Vec<RecordBatch>) -> PyArrowType<Reader> {
    PyArrowType(Box::new(RecordBatchIterator::new(batches.into_iter().map(Ok), schema)))
}

/// A home: its lake and its project store, opened once.
#[pyclass(module = "risklake._native", name = "Workspace", frozen)]
pub struct PyWorkspace {
    pub(crate) ws: Arc<Workspace>,
}

#[pymethods]
impl PyWorkspace {
    #[new]
    #[pyo3(signature = (home, project = "default"))]
    fn new(py: Python<'_>, home: PathBuf, project: &str) -> PyResult<Self> {
        let ws = Workspace::open(&home, project).map_err(|e| to_py(py, e))?;
        Ok(PyWorkspace { ws: Arc::new(ws) })
    }

    #[getter]
    fn home(&self) -> PathBuf {
        self.ws.home().to_path_buf()
    }

    #[getter]
    fn project(&self) -> String {
        self.ws.project().to_string()
    }

    #[getter]
    fn database(&self) -> String {
        self.ws.database().to_string()
    }

    /// Runs a script; the last statement's rows (a reader), and the run id.
    #[pyo3(signature = (sql, files = None, progress = None))]
    fn sql(
        &self,
        py: Python<'_>,
        sql: String,
        files: Option<std::collections::BTreeMap<String, PathBuf>>,
        progress: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(PyArrowType<Reader>, Option<i64>)> {
        let ws = self.ws.clone();
        let req = risklake_app::sql::SqlRequest {
            sql,
            files: files.unwrap_or_default(),
        };
        let report = block_on!(py, progress, |p| risklake_app::sql::run(&ws, &req, p))?;
        let run = report.run;
        let last = report
            .results
            .into_iter()
            .last()
            .ok_or_else(|| to_py(py, Error::param("sql", "no SQL statement given")))?;
        Ok((reader(last.schema, last.batches), run))
    }

    /// A lake table (or data file), optionally some columns, at a snapshot or a tag.
    #[pyo3(signature = (name, columns = None, snapshot = None, tag = None))]
    fn table(
        &self,
        py: Python<'_>,
        name: String,
        columns: Option<Vec<String>>,
        snapshot: Option<i64>,
        tag: Option<String>,
    ) -> PyResult<PyArrowType<Reader>> {
        if snapshot.is_some() && tag.is_some() {
            return Err(to_py(py, Error::param("tag", "give a snapshot or a tag, not both")));
        }
        let ws = self.ws.clone();
        let (schema, batches) = block_on!(py, None, |p| async {
            let session = risklake_app::scan::session(ws.lake().await?).await?;
            let table = ws.table_ref(&name)?;
            let mut stream = match (&tag, &table) {
                (Some(tag), risklake_lake::TableRef::Lake(n)) => {
                    if tag.contains('\'') {
                        return Err(Error::param("tag", format!("'{tag}' is not a tag name")));
                    }
                    let source = format!("{} VERSION AS OF '{tag}'", session.table_source(n, None).await?);
                    let cols = columns.as_ref().map_or("*".to_string(), |c| {
                        c.iter()
                            .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    });
                    session.stream(&format!("SELECT {cols} FROM {source}")).await?
                }
                (Some(_), risklake_lake::TableRef::File(_)) => {
                    return Err(Error::param("tag", "a data file has no tags"))
                }
                (None, _) => session.scan_at(&table, columns.as_deref(), snapshot).await?,
            };
            let schema = stream.schema();
            let mut batches = Vec::new();
            while let Some(b) = stream.next().await {
                risklake_app::progress::check(p)?;
                batches.push(b.map_err(|e| Error::external(format!("reading {name}"), e))?);
            }
            Ok::<_, Error>((schema, batches))
        })?;
        Ok(reader(schema, batches))
    }

    /// Writes a stream of batches into a table in one commit (JSON report).
    #[pyo3(signature = (name, data, mode = "append", primary_key = None, partition_by = None, progress = None))]
    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        py: Python<'_>,
        name: String,
        data: PyArrowType<ArrowArrayStreamReader>,
        mode: &str,
        primary_key: Option<Vec<String>>,
        partition_by: Option<Vec<String>>,
        progress: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let ws = self.ws.clone();
        let req = frames::WriteRequest {
            table: name,
            mode: Some(mode.to_string()),
            primary_key: primary_key.unwrap_or_default(),
            partition_by: partition_by.unwrap_or_default(),
        };
        let mut data = data.0;
        let report = block_on!(py, progress, |p| frames::write(&ws, &req, &mut data, p))?;
        json_text(py, &report)
    }

    /// Any workflow of the layer as `{"kind": ..., "request": {...}}` JSON; its report
    /// as JSON.
    #[pyo3(signature = (request, progress = None))]
    fn run(&self, py: Python<'_>, request: &str, progress: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
        let value = json_value(py, request)?;
        let req = jobs::WorkflowRequest::from_value(value).map_err(|e| to_py(py, e))?;
        let ws = self.ws.clone();
        let report = block_on!(py, progress, |p| jobs::run(&ws, &req, p))?;
        json_text(py, &report)
    }

    /// Tags a snapshot of a table (the latest when `snapshot` is None); JSON report.
    #[pyo3(signature = (table, tag, snapshot = None))]
    fn tag(&self, py: Python<'_>, table: String, tag: String, snapshot: Option<i64>) -> PyResult<String> {
        let ws = self.ws.clone();
        let req = risklake_app::lake::TagRequest { table, tag, snapshot };
        let report = block_on!(py, None, |_p| risklake_app::lake::tag(&ws, &req))?;
        json_text(py, &report)
    }

    /// The lake's tables (JSON).
    fn tables(&self, py: Python<'_>) -> PyResult<String> {
        let ws = self.ws.clone();
        let t = block_on!(py, None, |_p| risklake_app::lake::tables(&ws))?;
        json_text(py, &t)
    }

    /// A table's columns, snapshots and tags (JSON).
    fn describe(&self, py: Python<'_>, name: String) -> PyResult<String> {
        let ws = self.ws.clone();
        let info = block_on!(py, None, |_p| risklake_app::lake::describe(&ws, &name))?;
        json_text(py, &info)
    }

    /// Runs of the project, newest first (JSON).
    #[pyo3(signature = (kind = None, limit = 100))]
    fn runs(&self, py: Python<'_>, kind: Option<String>, limit: usize) -> PyResult<String> {
        let filter = risklake_track::RunFilter {
            project: Some(self.ws.project().to_string()),
            kind,
            limit: Some(limit),
            ..Default::default()
        };
        let list = self.ws.store().list_runs(&filter).map_err(|e| to_py(py, e))?;
        json_text(py, &list)
    }

    /// One run: parameters, metrics, datasets, artifacts (JSON).
    fn run_detail(&self, py: Python<'_>, run: i64) -> PyResult<String> {
        let detail = self.ws.store().get_run(run).map_err(|e| to_py(py, e))?;
        json_text(py, &detail)
    }

    /// Starts a run of `kind` (the caller's own code); its id.
    fn start_run(&self, py: Python<'_>, kind: &str) -> PyResult<i64> {
        self.ws.writable(kind).map_err(|e| to_py(py, e))?;
        self.ws
            .store()
            .start_run(self.ws.project(), kind, "python")
            .map_err(|e| to_py(py, e))
    }

    fn log_param(&self, py: Python<'_>, run: i64, key: &str, value: &str) -> PyResult<()> {
        self.ws.store().log_param(run, key, value).map_err(|e| to_py(py, e))
    }

    #[pyo3(signature = (run, key, value, step = None))]
    fn log_metric(&self, py: Python<'_>, run: i64, key: &str, value: f64, step: Option<i64>) -> PyResult<()> {
        self.ws
            .store()
            .log_metric(run, key, step, value)
            .map_err(|e| to_py(py, e))
    }

    fn log_artifact(&self, py: Python<'_>, run: i64, name: &str, data: &[u8]) -> PyResult<String> {
        let a = self
            .ws
            .store()
            .log_artifact_bytes(run, name, data)
            .map_err(|e| to_py(py, e))?;
        Ok(a.path)
    }

    #[pyo3(signature = (run, status = "finished", error = None))]
    fn finish_run(&self, py: Python<'_>, run: i64, status: &str, error: Option<&str>) -> PyResult<()> {
        let status = match status {
            "finished" => RunStatus::Finished,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            other => {
                return Err(to_py(
                    py,
                    Error::param("status", format!("'{other}' is not one of finished, failed, cancelled")),
                ))
            }
        };
        self.ws.store().finish_run(run, status, error).map_err(|e| to_py(py, e))
    }

    /// Registers a run's model under `name` (JSON of the new version).
    #[pyo3(signature = (run, name, aliases = None, description = None))]
    fn register_model(
        &self,
        py: Python<'_>,
        run: i64,
        name: String,
        aliases: Option<Vec<String>>,
        description: Option<String>,
    ) -> PyResult<String> {
        let req = registry::RegisterRequest {
            run,
            name,
            aliases: aliases.unwrap_or_default(),
            tags: Default::default(),
            description,
            artifact: None,
        };
        let v = registry::register(&self.ws, &req).map_err(|e| to_py(py, e))?;
        json_text(py, &v)
    }

    /// Points `alias` of model `name` at `version` (None removes it).
    #[pyo3(signature = (name, alias, version = None))]
    fn set_alias(&self, py: Python<'_>, name: &str, alias: &str, version: Option<i64>) -> PyResult<()> {
        registry::set_alias(&self.ws, name, alias, version).map_err(|e| to_py(py, e))
    }

    /// The registered models (JSON).
    fn models(&self, py: Python<'_>) -> PyResult<String> {
        let list = registry::list(&self.ws).map_err(|e| to_py(py, e))?;
        json_text(py, &list)
    }

    /// A model's versions, aliases and history (JSON).
    fn model_detail(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        let d = registry::detail(&self.ws, name).map_err(|e| to_py(py, e))?;
        json_text(py, &d)
    }

    /// The model a spec names (file, run id, `name@alias`, `name/version`), as
    /// `(kind, json)`: `trees`, `lr` or `scorecard`.
    fn load_model(&self, py: Python<'_>, spec: &str) -> PyResult<(String, String)> {
        let ws = self.ws.clone();
        let spec = spec.to_string();
        interruptible(py, None, move |_| crate::learn::load_any(&ws, &spec))
    }

    /// A binning plan a spec names (file or run id), as JSON.
    fn load_plan(&self, py: Python<'_>, spec: &str) -> PyResult<String> {
        let plan = risklake_app::features::load_plan(&self.ws, spec).map_err(|e| to_py(py, e))?;
        Ok(plan.to_json())
    }

    fn __repr__(&self) -> String {
        format!(
            "Workspace(home={:?}, project={:?})",
            self.ws.home().display().to_string(),
            self.ws.project()
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWorkspace>()?;
    Ok(())
}
