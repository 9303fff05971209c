//! `risklake serve`: a JSON API under `/api/v1` over one home, and a job runner that runs
//! any workflow of the workflow layer (`risklake_app::jobs`) from a queue kept in the
//! project store.
//!
//! Everything here turns HTTP into the workflow layer's typed requests and its reports
//! into JSON; no workflow lives in this crate. Errors are JSON `{"error": {"kind",
//! "message"}}` with a 4xx status for anything the client can fix.
//!
//! ```no_run
//! # async fn demo() -> risklake_core::Result<()> {
//! let server = risklake_server::Server::start(risklake_server::ServeConfig::new("risklake-home")).await?;
//! println!("listening on http://{}", server.addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
pub mod client;
mod mlflow;
mod pg;
mod runner;
mod state;
mod ui;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use risklake_core::{Error, Result};
use risklake_track::SqlStore;

pub use api::openapi;

/// Who may call the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Anyone who can connect, as the server's user with every role: one person on
    /// loopback only.
    None,
    /// `Authorization: Bearer <token>` (`risklake token create`): the token's user, project
    /// and role.
    Token,
}

/// How a server runs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Where to listen; loopback by default.
    pub bind: SocketAddr,
    /// The home (lake and project store) served.
    pub home: PathBuf,
    /// Jobs run at once (default: one per two cores).
    pub workers: usize,
    /// The one folder whose files requests may name (data files, outputs); `None`: no
    /// request may name a file.
    pub files: Option<PathBuf>,
    /// The most rows a SQL query returns.
    pub sql_rows: usize,
    /// How long a SQL query may run.
    pub sql_timeout: Duration,
    /// The largest request body.
    pub max_body: usize,
    pub auth: Auth,
    /// Where to serve the lake's SQL over the PostgreSQL protocol; `None`: not served.
    pub pg_bind: Option<SocketAddr>,
    /// The project store's URL (`postgres://...`); `None`: the home's SQLite file.
    pub store: Option<String>,
}

impl ServeConfig {
    pub fn new(home: impl Into<PathBuf>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServeConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8420)),
            home: home.into(),
            workers: (cores / 2).max(1),
            files: None,
            sql_rows: 10_000,
            sql_timeout: Duration::from_secs(60),
            max_body: 16 << 20,
            auth: Auth::Token,
            pg_bind: None,
            store: None,
        }
    }
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    pg_addr: Option<SocketAddr>,
    stop_pg: tokio::sync::watch::Sender<bool>,
    pg: Option<tokio::task::JoinHandle<()>>,
    shared: Arc<runner::Shared>,
    stop_http: tokio::sync::oneshot::Sender<()>,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Opens the home, marks the jobs a dead server left running (failed, or queued again
    /// when they asked), binds, and starts the API and the job workers.
    pub async fn start(config: ServeConfig) -> Result<Server> {
        for (name, addr) in [("bind", Some(config.bind)), ("pg-bind", config.pg_bind)] {
            if let Some(addr) = addr.filter(|a| !a.ip().is_loopback() && config.auth == Auth::None) {
                return Err(Error::param(
                    name,
                    format!(
                        "{addr} is not a loopback address; without authentication (auth none) the server listens \
                         on 127.0.0.1 or ::1 only"
                    ),
                ));
            }
        }
        std::fs::create_dir_all(&config.home)
            .map_err(|e| Error::io(format!("creating home {}", config.home.display()), e))?;
        let home = config
            .home
            .canonicalize()
            .map_err(|e| Error::io(format!("resolving home {}", config.home.display()), e))?;
        let files = match &config.files {
            Some(f) => Some(
                f.canonicalize()
                    .map_err(|e| Error::io(format!("the files folder {}", f.display()), e))?,
            ),
            None => None,
        };
        // One store for the whole server: the queue, every request and every job.
        let queue = Arc::new(SqlStore::open_at(&home, config.store.as_deref())?);
        for id in queue.reap_jobs()? {
            eprintln!("risklake serve: job {id} was running when its server stopped; marked as it asked");
        }
        let shared = Arc::new(runner::Shared::new(home.clone(), queue, config.auth == Auth::Token));
        let (stop_pg, pg_stopped) = tokio::sync::watch::channel(false);
        let (pg, pg_addr) = match config.pg_bind {
            Some(addr) => {
                let (listener, bound) = pg::bind(addr).await?;
                let task = pg::start(listener, shared.clone(), config.auth, config.sql_timeout, pg_stopped).await?;
                (Some(task), Some(bound))
            }
            None => (None, None),
        };
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|e| Error::io(format!("listening on {}", config.bind), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the bound address", e))?;
        let state = state::State {
            shared: shared.clone(),
            auth: config.auth,
            files,
            sql_rows: config.sql_rows,
            sql_timeout: config.sql_timeout,
        };
        let app = api::router(state, config.max_body);
        let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
        let http = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        let workers = runner::start(&shared, config.workers);
        Ok(Server {
            addr,
            pg_addr,
            stop_pg,
            pg,
            shared,
            stop_http,
            http,
            workers,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address PostgreSQL clients connect to, when the server was asked to serve SQL
    /// over that protocol.
    pub fn pg_addr(&self) -> Option<SocketAddr> {
        self.pg_addr
    }

    /// Stops: no new requests, running jobs cancelled (marked cancelled, or queued again
    /// when they asked), workers joined. What a job had begun in the lake or the store is
    /// rolled back by its workflow's cancellation.
    pub async fn shutdown(self) {
        let _ = self.stop_http.send(());
        let _ = self.stop_pg.send(true);
        let _ = self.http.await;
        if let Some(pg) = self.pg {
            let _ = pg.await;
        }
        self.shared.stopping.store(true, Ordering::SeqCst);
        for cancel in self.shared.running.lock().unwrap_or_else(|p| p.into_inner()).values() {
            cancel.cancel();
        }
        self.shared.notify();
        let workers = self.workers;
        let _ = tokio::task::spawn_blocking(move || {
            for w in workers {
                let _ = w.join();
            }
        })
        .await;
    }
}
