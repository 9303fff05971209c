//! `risklake serve`: starts the server on this home and runs until Ctrl+C or SIGTERM.

use std::time::Duration;

use serde_json::json;

use risklake_core::{Error, Result};
use risklake_server::{ServeConfig, Server};

use super::Ctx;
use crate::app::ServeArgs;

pub async fn run(ctx: &Ctx, args: ServeArgs) -> Result<()> {
    let mut config = ServeConfig::new(ctx.ws.home());
    config.store = ctx.store.clone();
    config.bind = args.bind;
    config.auth = if args.auth == "none" {
        risklake_server::Auth::None
    } else {
        risklake_server::Auth::Token
    };
    if let Some(w) = args.workers {
        if w == 0 {
            return Err(Error::param("workers", "must be at least 1"));
        }
        config.workers = w;
    }
    config.files = args.files;
    config.sql_rows = args.sql_rows.max(1);
    if !(args.sql_timeout.is_finite() && args.sql_timeout > 0.0) {
        return Err(Error::param("sql_timeout", "must be a positive number of seconds"));
    }
    config.sql_timeout = Duration::from_secs_f64(args.sql_timeout);
    config.pg_bind = args.pg_bind;
    let workers = config.workers;
    let server = Server::start(config).await?;
    let url = format!("http://{}", server.addr());
    let pg = server.pg_addr().map(|a| a.to_string());
    let pg_text = pg
        .as_deref()
        .map(|a| format!(", PostgreSQL clients on {a}"))
        .unwrap_or_default();
    // The address first, on one line, so scripts (and tests) that start the server on
    // port 0 can read where it listens.
    ctx.out.emit(
        json!({"listening": url, "postgres": pg, "home": ctx.ws.home().display().to_string(), "workers": workers, "auth": args.auth}),
        || {
            format!(
                "risklake serve: listening on {url} (home {}, {workers} job workers, auth {}){pg_text}; Ctrl+C stops",
                ctx.ws.home().display(),
                args.auth
            )
        },
    );
    while !crate::signals::stop_requested() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("risklake serve: stopping (running jobs are cancelled and marked)");
    server.shutdown().await;
    Ok(())
}
