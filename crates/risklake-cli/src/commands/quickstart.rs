//! `quickstart`: the whole flow on sample data, in one command on an empty home.

use std::path::PathBuf;

use serde_json::json;

use risklake_core::Result;
use risklake_lake::ingest::{IngestRequest, ReadOptions, Source};
use risklake_lake::{TableName, TableSpec, WriteMode};

use super::Ctx;
use crate::app::{GenCreditArgs, QuickstartArgs};
use crate::output::batches_table;

/// The German credit data (UCI Statlog, CC BY 4.0), shipped inside the binary so the
/// quickstart works from any folder.
const GERMAN_CREDIT: &str = include_str!("../../../../examples/german_credit.csv");

pub async fn run(ctx: &Ctx, args: QuickstartArgs) -> Result<()> {
    let out = ctx.out;
    let mut steps = Vec::new();
    let lake = ctx.lake().await?;

    out.note(format!("risklake quickstart in {}\n", ctx.home.display()));
    out.note(format!(
        "[1/4] generating {} synthetic credit applications into default.credit_apps",
        args.rows
    ));
    let gen_args = GenCreditArgs {
        rows: args.rows,
        features: 24,
        seed: 42,
        table: Some("default.credit_apps".into()),
        out: None,
        mode: Some("overwrite".into()),
        partition_by: vec![],
    };
    let g = super::gen::generate(ctx, &gen_args).await?;
    out.note(format!(
        "      {} rows, snapshot {}, {:.2} s (run {})",
        g.rows,
        g.snapshot.unwrap_or(0),
        g.seconds,
        g.run
    ));
    steps.push(json!({ "step": "gen", "table": g.target, "rows": g.rows, "snapshot": g.snapshot, "run": g.run }));

    out.note("[2/4] ingesting the German credit data (CSV) into default.german_credit");
    let examples = ctx.home.join("examples");
    std::fs::create_dir_all(&examples)
        .map_err(|e| risklake_core::Error::io(format!("creating {}", examples.display()), e))?;
    let csv: PathBuf = examples.join("german_credit.csv");
    std::fs::write(&csv, GERMAN_CREDIT)
        .map_err(|e| risklake_core::Error::io(format!("writing {}", csv.display()), e))?;
    let req = IngestRequest {
        source: Source::File(csv.clone()),
        table: TableName::parse("default.german_credit")?,
        mode: WriteMode::Overwrite,
        spec: TableSpec::default(),
        read: ReadOptions::default(),
    };
    let r = super::ingest::run_one(ctx, &lake, &req).await?;
    out.note(format!(
        "      {} rows, {} rejected, snapshot {}",
        r.rows_written,
        r.rows_rejected,
        r.snapshot.unwrap_or(0)
    ));
    steps.push(json!({ "step": "ingest", "table": r.table, "rows": r.rows_written, "snapshot": r.snapshot }));

    let sql = lake.sql().await?;
    let q1 = "SELECT month, COUNT(*) AS applications, ROUND(AVG(bad), 4) AS bad_rate, \
              ROUND(AVG(x00_amount), 1) AS avg_amount, \
              ROUND(AVG(CASE WHEN x02_utilization IS NULL THEN 1.0 ELSE 0.0 END), 4) AS utilization_missing \
              FROM credit_apps GROUP BY month ORDER BY month";
    out.note("[3/4] SQL: bad rate and drift by month (default.credit_apps)");
    let r1 = sql.query(q1).await?;
    let q2 = "SELECT purpose, COUNT(*) AS loans, ROUND(AVG(CASE WHEN creditability = 'bad' THEN 1.0 ELSE 0.0 END), 3) AS bad_rate \
              FROM german_credit GROUP BY purpose ORDER BY bad_rate DESC LIMIT 5";
    let r2 = sql.query(q2).await?;
    let run = ctx.start("sql")?;
    let recorded = super::sql::log_statement(ctx, run, q1)
        .and_then(|()| ctx.store.log_metric(run, "rows", None, r1.num_rows() as f64));
    ctx.finish(run, recorded)?;
    if !out.json {
        println!("{}", batches_table(&r1.batches)?);
        out.note("[4/4] SQL: riskiest loan purposes (default.german_credit)");
        println!("{}", batches_table(&r2.batches)?);
    }
    steps.push(
        json!({ "step": "sql", "query": q1, "rows": r1.num_rows(), "data": crate::output::batches_json(&r1.batches)? }),
    );
    steps.push(
        json!({ "step": "sql", "query": q2, "rows": r2.num_rows(), "data": crate::output::batches_json(&r2.batches)? }),
    );

    let warehouse = lake.warehouse().to_path_buf();
    let store = ctx.home.join("store.db");
    out.emit(
        json!({ "home": ctx.home, "warehouse": warehouse, "store": store, "steps": steps }),
        || {
            format!(
                "\nwhere things are\n  home:      {}\n  warehouse: {} (Apache Paimon tables; Spark, Flink and pypaimon read them)\n  store:     {} (runs, params, metrics)\n\n\
                 try next\n  risklake --home {h} tables\n  risklake --home {h} describe credit_apps\n  \
                 risklake --home {h} sql \"SELECT x06_grade, AVG(bad) FROM credit_apps GROUP BY 1 ORDER BY 1\"\n  risklake --home {h} sql   (interactive shell)\n  \
                 risklake --home {h} runs list",
                ctx.home.display(),
                warehouse.display(),
                store.display(),
                h = ctx.home.display(),
            )
        },
    );
    Ok(())
}
