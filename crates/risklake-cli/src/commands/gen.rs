//! `gen credit`: synthetic credit data into the lake or a file.

use serde_json::json;

use risklake_app::gen::{GenReport, GenRequest};
use risklake_app::output::OutputSpec;
use risklake_core::Result;
use risklake_lake::WriteMode;

use super::Ctx;
use crate::app::{GenCommand, GenCreditArgs};
use crate::output::{kv_table, Bars};

pub async fn run(ctx: &Ctx, cmd: GenCommand) -> Result<()> {
    match cmd {
        GenCommand::Credit(args) => credit(ctx, &args).await,
    }
}

pub async fn credit(ctx: &Ctx, args: &GenCreditArgs) -> Result<()> {
    let r = generate(ctx, &gen_request(args)?).await?;
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

/// The workflow, run with progress bars.
pub async fn generate(ctx: &Ctx, req: &GenRequest) -> Result<GenReport> {
    risklake_app::gen::generate(&ctx.ws, req, &Bars::new(ctx.out)).await
}

/// The flags as the workflow's request.
pub fn gen_request(args: &GenCreditArgs) -> Result<GenRequest> {
    Ok(GenRequest {
        rows: args.rows,
        features: args.features,
        seed: args.seed,
        output: OutputSpec {
            table: args.table.clone(),
            file: args.out.clone(),
            mode: args.mode.as_deref().map(WriteMode::parse).transpose()?,
            partition_by: args.partition_by.clone(),
        },
    })
}
