//! Synthetic credit data (the generator of `risklake_core::synth`) into a lake table or a
//! file, as a recorded run.

use std::time::Instant;

use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use risklake_core::synth::{CreditGenerator, SynthConfig};
use risklake_core::Result;

use crate::output::{OutputSpec, Sink};
use crate::progress::{check, Progress, Unit};
use crate::Workspace;

const BATCH_ROWS: usize = 65_536;

/// What to generate and where to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenRequest {
    pub rows: u64,
    /// Number of feature columns.
    pub features: usize,
    pub seed: u64,
    #[serde(flatten)]
    pub output: OutputSpec,
}

impl Default for GenRequest {
    fn default() -> Self {
        GenRequest {
            rows: 10_000,
            features: 24,
            seed: 42,
            output: OutputSpec::default(),
        }
    }
}

/// What was generated.
#[derive(Clone, Debug, Serialize)]
pub struct GenReport {
    pub target: String,
    pub rows: u64,
    pub snapshot: Option<i64>,
    pub seconds: f64,
    pub run: i64,
}

/// Generates the rows and writes them in one commit (or one file).
pub async fn generate(ws: &Workspace, req: &GenRequest, progress: &dyn Progress) -> Result<GenReport> {
    let gen = CreditGenerator::new(SynthConfig {
        rows: req.rows,
        features: req.features,
        seed: req.seed,
    })?;
    let run = ws.start_run("gen")?;
    let result = async {
        run.params([
            ("rows", req.rows.to_string()),
            ("features", req.features.to_string()),
            ("seed", req.seed.to_string()),
        ])?;
        let started = Instant::now();
        let mut sink = Sink::open(ws, &req.output, gen.schema()).await?;
        progress.stage("generating", Some(req.rows), Unit::Rows);
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
        let fed: Result<()> = async {
            // Moved in: dropped when this block ends, which stops the producer.
            let rx = rx;
            for b in rx.iter() {
                check(progress)?;
                let b = b?;
                sink.write(&b).await?;
                progress.advance(b.num_rows() as u64);
            }
            Ok(())
        }
        .await;
        let written = match fed {
            Ok(()) => sink.finish().await,
            Err(e) => {
                sink.abandon().await;
                Err(e)
            }
        };
        progress.end_stage();
        let _ = producer.join();
        let written = written?;
        run.output(&written.target, written.snapshot, Some(written.rows))?;
        let seconds = started.elapsed().as_secs_f64();
        run.metric("rows", req.rows as f64)?;
        run.metric("seconds", seconds)?;
        Ok(GenReport {
            target: written.target,
            rows: req.rows,
            snapshot: written.snapshot,
            seconds,
            run: run.id(),
        })
    }
    .await;
    run.finish(result)
}
