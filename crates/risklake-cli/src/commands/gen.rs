//! `gen credit`: synthetic credit data into the lake or a file.

use std::time::Instant;

use arrow::record_batch::RecordBatch;
use serde_json::json;

use risklake_core::synth::{CreditGenerator, SynthConfig};
use risklake_core::{Error, Result};
use risklake_lake::{TableName, TableSpec};
use risklake_track::DatasetRef;

use super::Ctx;
use crate::app::{GenCommand, GenCreditArgs};
use crate::output::{kv_table, FileWriter, Unit};

const BATCH_ROWS: usize = 65_536;

pub async fn run(ctx: &Ctx, cmd: GenCommand) -> Result<()> {
    match cmd {
        GenCommand::Credit(args) => credit(ctx, &args).await,
    }
}

/// What `gen credit` produced.
pub struct GenReport {
    pub target: String,
    pub rows: u64,
    pub snapshot: Option<i64>,
    pub seconds: f64,
    pub run: i64,
}

pub async fn credit(ctx: &Ctx, args: &GenCreditArgs) -> Result<()> {
    let r = generate(ctx, args).await?;
    ctx.out.emit(
        json!({ "target": r.target, "rows": r.rows, "snapshot": r.snapshot, "seconds": r.seconds, "run": r.run }),
        || {
            kv_table([
                ("wrote", r.target.clone()),
                ("rows", r.rows.to_string()),
                ("snapshot", r.snapshot.map(|s| s.to_string()).unwrap_or("-".into())),
                (
                    "time",
                    format!("{:.2} s ({:.0} rows/s)", r.seconds, r.rows as f64 / r.seconds.max(1e-9)),
                ),
                ("run", r.run.to_string()),
            ])
        },
    );
    Ok(())
}

pub async fn generate(ctx: &Ctx, args: &GenCreditArgs) -> Result<GenReport> {
    let gen = CreditGenerator::new(SynthConfig {
        rows: args.rows,
        features: args.features,
        seed: args.seed,
    })?;
    let run = ctx.start("gen")?;
    let result = async {
        for (k, v) in [
            ("rows", args.rows.to_string()),
            ("features", args.features.to_string()),
            ("seed", args.seed.to_string()),
        ] {
            ctx.store.log_param(run, k, &v)?;
        }
        let started = Instant::now();
        let bar = ctx.out.bar(Some(args.rows), Unit::Rows, "generating");
        // Generation runs on its own thread, one batch ahead of the writer, so generating
        // and encoding use both cores.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<RecordBatch>>(2);
        let producer = {
            let gen = gen.clone();
            std::thread::spawn(move || {
                for b in gen.batches(BATCH_ROWS) {
                    if tx.send(b).is_err() {
                        break;
                    }
                }
            })
        };
        let (target, snapshot) = match (&args.table, &args.out) {
            (Some(t), _) => {
                let name = TableName::parse(t)?;
                let lake = ctx.lake().await?;
                let spec = TableSpec {
                    partition_by: args.partition_by.clone(),
                    ..Default::default()
                };
                let mut w = super::output_writer(&lake, &name, &gen.schema(), &spec, args.mode.as_deref()).await?;
                for b in rx.iter() {
                    let b = b?;
                    w.write(&b).await?;
                    bar.inc(b.num_rows() as u64);
                }
                let s = w.commit().await?;
                ctx.store.log_dataset(
                    run,
                    &DatasetRef {
                        role: "output".into(),
                        name: name.to_string(),
                        snapshot: s.snapshot,
                        rows: Some(s.rows as i64),
                    },
                )?;
                (name.to_string(), s.snapshot)
            }
            (None, Some(path)) => {
                let mut w = FileWriter::create(path, gen.schema())?;
                // Written in place: a partial file is removed on error below.
                let written: Result<()> = (|| {
                    for b in rx.iter() {
                        let b = b?;
                        w.write(&b)?;
                        bar.inc(b.num_rows() as u64);
                    }
                    Ok(())
                })();
                if let Err(e) = written {
                    let _ = std::fs::remove_file(path);
                    return Err(e);
                }
                w.finish()?;
                ctx.store.log_dataset(
                    run,
                    &DatasetRef {
                        role: "output".into(),
                        name: path.display().to_string(),
                        snapshot: None,
                        rows: Some(args.rows as i64),
                    },
                )?;
                (path.display().to_string(), None)
            }
            (None, None) => return Err(Error::invalid("give --table or --out")),
        };
        let _ = producer.join();
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        ctx.store.log_metric(run, "rows", None, args.rows as f64)?;
        ctx.store.log_metric(run, "seconds", None, seconds)?;
        Ok(GenReport {
            target,
            rows: args.rows,
            snapshot,
            seconds,
            run,
        })
    }
    .await;
    ctx.finish(run, result)
}
