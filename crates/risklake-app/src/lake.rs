//! What a lake holds (tables with their kind, columns and latest snapshot) and tagging a
//! snapshot as a recorded run.

use serde::{Deserialize, Serialize};

use risklake_core::Result;

use crate::Workspace;

/// One table of the lake.
#[derive(Clone, Debug, Serialize)]
pub struct TableSummary {
    pub name: String,
    /// `append` or `primary-key`.
    pub kind: &'static str,
    pub columns: usize,
    /// The latest snapshot; `None` for a table never written.
    pub snapshot: Option<i64>,
}

/// A table's schema, options, snapshots, tags and row count; `table` resolves in the
/// workspace's project database as every table name does.
pub async fn describe(ws: &Workspace, table: &str) -> Result<risklake_lake::TableInfo> {
    let name = ws.table_name(table)?;
    ws.lake().await?.describe(&name).await
}

/// Every table of the lake, by name.
pub async fn tables(ws: &Workspace) -> Result<Vec<TableSummary>> {
    let lake = ws.lake().await?;
    let mut out = Vec::new();
    for n in lake.list_tables().await? {
        let t = lake.table(&n).await?;
        out.push(TableSummary {
            name: n.to_string(),
            kind: if t.schema().primary_keys().is_empty() {
                "append"
            } else {
                "primary-key"
            },
            columns: t.schema().fields().len(),
            snapshot: lake.latest_snapshot(&n).await?,
        });
    }
    Ok(out)
}

/// Names a snapshot of a table so SQL can read it with `VERSION AS OF 'tag'` and
/// `maintain` keeps its files.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TagRequest {
    pub table: String,
    pub tag: String,
    /// The snapshot to tag; the latest when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<i64>,
}

/// The tagged snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct TagReport {
    pub table: String,
    pub tag: String,
    pub snapshot: Option<i64>,
    pub run: i64,
}

/// Tags the snapshot, recorded as a run (`tag`).
pub async fn tag(ws: &Workspace, req: &TagRequest) -> Result<TagReport> {
    let lake = ws.lake().await?;
    let name = ws.table_name(&req.table)?;
    let run = ws.start_run("tag")?;
    let result = async {
        run.request(req)?;
        lake.create_tag(&name, &req.tag, req.snapshot).await?;
        let snapshot = match req.snapshot {
            Some(s) => Some(s),
            None => lake.latest_snapshot(&name).await?,
        };
        run.output(&name.to_string(), snapshot, None)?;
        Ok(snapshot)
    }
    .await;
    let id = run.id();
    let snapshot = run.finish(result)?;
    Ok(TagReport {
        table: name.to_string(),
        tag: req.tag.clone(),
        snapshot,
        run: id,
    })
}

/// What one column of a table holds: counts, range, quantiles and a histogram for
/// numbers, the most frequent values otherwise. Quantiles and the distinct count are
/// approximate (t-digest, HyperLogLog), so a profile of 10^7 rows stays one pass each.
#[derive(Clone, Debug, Serialize)]
pub struct ColumnProfile {
    pub table: String,
    pub column: String,
    /// The Arrow type.
    #[serde(rename = "type")]
    pub data_type: String,
    /// The snapshot read (`None`: the table was never written).
    pub snapshot: Option<i64>,
    pub rows: u64,
    pub missing: u64,
    pub distinct: u64,
    pub min: serde_json::Value,
    pub max: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// (probability, value) at 1, 5, 25, 50, 75, 95 and 99 %, numbers only.
    pub quantiles: Vec<(f64, f64)>,
    /// Equal-width bins over [min, max], numbers only.
    pub histogram: Vec<HistogramBin>,
    /// The most frequent values with their counts, for text and booleans.
    pub top: Vec<(serde_json::Value, u64)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HistogramBin {
    pub lo: f64,
    pub hi: f64,
    pub count: u64,
}

/// Bins of a profile's histogram.
const PROFILE_BINS: usize = 20;
/// Values listed in a profile's `top`.
const PROFILE_TOP: usize = 20;

/// Profiles `column` of `table` (as of `snapshot`, or the latest).
pub async fn profile(ws: &Workspace, table: &str, column: &str, snapshot: Option<i64>) -> Result<ColumnProfile> {
    let lake = ws.lake().await?;
    let name = ws.table_name(table)?;
    let schema = lake.arrow_schema(&name).await?;
    let field = schema
        .field_with_name(column)
        .map_err(|_| risklake_core::columns::missing_column(&schema, column, "column"))?;
    let session = lake.sql().await?;
    let from = session.table_source(&name, snapshot).await?;
    let snapshot = match snapshot {
        Some(s) => Some(s),
        None => lake.latest_snapshot(&name).await?,
    };
    let col = format!("\"{}\"", column.replace('"', "\"\""));
    let numeric = field.data_type().is_numeric();
    let one = |sql: String| {
        let session = &session;
        async move {
            let r = session.query(&sql).await?;
            let rows = crate::sql::batches_json(&r.batches)?;
            Ok::<_, risklake_core::Error>(rows.as_array().cloned().unwrap_or_default())
        }
    };
    let num = |v: &serde_json::Value| v.as_f64();
    let count = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let mean = if numeric {
        format!(", AVG(CAST({col} AS DOUBLE)) AS mean")
    } else {
        String::new()
    };
    // DataFusion's HyperLogLog takes no floats: their text is as distinct as they are.
    let distinct_of = if field.data_type().is_floating() {
        format!("CAST({col} AS VARCHAR)")
    } else {
        col.clone()
    };
    let head = one(format!(
        "SELECT COUNT(*) AS n, COUNT({col}) AS present, approx_distinct({distinct_of}) AS d, MIN({col}) AS lo, MAX({col}) AS hi{mean} FROM {from}"
    ))
    .await?;
    let h = head.first().cloned().unwrap_or_default();
    let (rows, present) = (count(&h["n"]), count(&h["present"]));
    let mut out = ColumnProfile {
        table: name.to_string(),
        column: column.to_string(),
        data_type: field.data_type().to_string(),
        snapshot,
        rows,
        missing: rows - present,
        distinct: count(&h["d"]),
        min: h["lo"].clone(),
        max: h["hi"].clone(),
        mean: h.get("mean").and_then(num),
        quantiles: Vec::new(),
        histogram: Vec::new(),
        top: Vec::new(),
    };
    if present == 0 {
        return Ok(out);
    }
    if numeric {
        let ps = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];
        let exprs: Vec<String> = ps
            .iter()
            .enumerate()
            .map(|(i, p)| format!("approx_percentile_cont(CAST({col} AS DOUBLE), {p}) AS q{i}"))
            .collect();
        let q = one(format!(
            "SELECT {} FROM {from} WHERE {col} IS NOT NULL",
            exprs.join(", ")
        ))
        .await?;
        if let Some(q) = q.first() {
            out.quantiles = ps
                .iter()
                .enumerate()
                .filter_map(|(i, p)| num(&q[format!("q{i}")]).map(|v| (*p, v)))
                .collect();
        }
        let (lo, hi) = (num(&out.min), num(&out.max));
        if let (Some(lo), Some(hi)) = (lo.filter(|v| v.is_finite()), hi.filter(|v| v.is_finite())) {
            let width = if hi > lo { (hi - lo) / PROFILE_BINS as f64 } else { 1.0 };
            let last = PROFILE_BINS - 1;
            let bins = one(format!(
                "SELECT LEAST(CAST(FLOOR((CAST({col} AS DOUBLE) - {lo:?}) / {width:?}) AS BIGINT), {last}) AS b, COUNT(*) AS n
                 FROM {from} WHERE CAST({col} AS DOUBLE) BETWEEN {lo:?} AND {hi:?} GROUP BY b"
            ))
            .await?;
            let mut counts = vec![0u64; if hi > lo { PROFILE_BINS } else { 1 }];
            for b in &bins {
                let i = b["b"].as_i64().unwrap_or(0).clamp(0, counts.len() as i64 - 1) as usize;
                counts[i] += count(&b["n"]);
            }
            out.histogram = counts
                .into_iter()
                .enumerate()
                .map(|(i, count)| HistogramBin {
                    lo: lo + width * i as f64,
                    hi: if hi > lo { lo + width * (i + 1) as f64 } else { hi },
                    count,
                })
                .collect();
        }
    } else {
        let top = one(format!(
            "SELECT {col} AS v, COUNT(*) AS n FROM {from} WHERE {col} IS NOT NULL GROUP BY {col} ORDER BY n DESC, v LIMIT {PROFILE_TOP}"
        ))
        .await?;
        out.top = top.iter().map(|r| (r["v"].clone(), count(&r["n"]))).collect();
    }
    Ok(out)
}
