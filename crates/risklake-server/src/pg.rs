//! SQL over the PostgreSQL wire protocol (`risklake serve --pg-bind`): the lake's tables
//! for `psql`, psycopg and BI tools.
//!
//! Queries run on one DataFusion session over the lake (with `pg_catalog`, so clients can
//! list tables and columns), streamed to the client; the statement timeout starts at the
//! server's SQL limit. The password is an API token (`risklake token create`): any user
//! name, the token's user, project and role. Viewers only read; an editor's statement that
//! writes runs as the workflow layer's `sql` request (a recorded run of the token's
//! project, commit locks held), and is audited. The token is checked again before every
//! statement, so a revoked token stops working on open connections too.
//!
//! With token authentication a connection sees its project's lake database only (as the
//! HTTP API does): the session's catalog asks the connection's task which databases its
//! caller may see, so other projects' tables are missing to planning and to `pg_catalog`
//! alike; a table name without a database is in the project's.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire;
use datafusion_postgres::{DfSessionService, QueryHook};
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata, DefaultServerParameterProvider,
    StartupHandler,
};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{Response, Tag};
use pgwire::api::{
    ClientInfo, PgWireConnectionState, PgWireServerHandlers, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use risklake_app::Workspace;
use risklake_core::{Error, Result};
use risklake_track::Role;

use crate::Auth;

/// Keys of what authentication found, kept in the connection's metadata.
const USER: &str = "risklake.user";
const PROJECT: &str = "risklake.project";
const ROLE: &str = "risklake.role";
const TOKEN: &str = "risklake.token";
/// datafusion-postgres reads the statement timeout from this metadata key.
const TIMEOUT_MS: &str = "statement_timeout_ms";

/// What a connection's caller sees of the lake.
#[derive(Clone, Debug)]
enum Seen {
    /// Every database (`--auth none`: the server's own user).
    All,
    /// One project's database; the session's default database (`default`) is it.
    Only(String),
}

tokio::task_local! {
    /// Set when the connection signs in; each connection's task has its own.
    static SEEN: Arc<std::sync::OnceLock<Seen>>;
}

/// What the caller of the current connection sees: nothing before sign-in, or outside a
/// connection's task (closed by default).
fn seen() -> Option<Seen> {
    SEEN.try_with(|s| s.get().cloned()).ok().flatten()
}

/// What every connection shares.
struct Shared {
    /// The server's home, store and workspaces (confined as the HTTP API's are).
    server: Arc<crate::runner::Shared>,
    auth: Auth,
    timeout: Duration,
}

/// The handlers of one server: authentication, and queries on the lake's session.
struct Handlers {
    startup: Arc<Startup>,
    queries: Arc<DfSessionService>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.queries.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.queries.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// Serves the lake of the server's home over the PostgreSQL protocol on `listener`
/// until `stop`.
pub(crate) async fn start(
    listener: tokio::net::TcpListener,
    server: Arc<crate::runner::Shared>,
    auth: Auth,
    timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>> {
    // One session for every connection; what a caller sees is gated per connection.
    let ws = Workspace::shared(&server.home, "default", server.queue.clone())?;
    let session = ws.lake().await?.sql().await?;
    let ctx = session.datafusion().clone();
    // Clients look for pg_catalog in the current catalog; the lake's catalog keeps only
    // lake databases, so it is wrapped with room for pg_catalog beside them.
    let lake_catalog = ctx
        .catalog("paimon")
        .ok_or_else(|| Error::invalid("the SQL session has no lake catalog"))?;
    ctx.register_catalog("paimon", Arc::new(WithPgCatalog::new(lake_catalog)));
    datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog(
        &ctx,
        "paimon",
        datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider,
    )
    .map_err(|e| Error::invalid(format!("setting up pg_catalog: {e}")))?;
    let shared = Arc::new(Shared { server, auth, timeout });
    let hooks: Vec<Arc<dyn QueryHook>> = vec![
        Arc::new(Access { shared: shared.clone() }),
        Arc::new(CursorStatementHook),
        Arc::new(SetShowHook),
        Arc::new(TransactionStatementHook),
        Arc::new(Writes { shared: shared.clone() }),
    ];
    let handlers = Arc::new(Handlers {
        startup: Arc::new(Startup {
            shared: shared.clone(),
            pids: RandomPidSecretKeyGenerator::default(),
        }),
        queries: Arc::new(DfSessionService::new_with_hooks(Arc::new(ctx), hooks)),
    });
    Ok(tokio::spawn(async move {
        // The session (and its lake) lives as long as the listener.
        let _session = session;
        let _ws = ws;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((socket, _)) => {
                        let handlers = handlers.clone();
                        tokio::spawn(SEEN.scope(Arc::default(), async move {
                            let _ = pgwire::tokio::process_socket(socket, None, handlers).await;
                        }));
                    }
                    Err(e) => {
                        eprintln!("risklake serve: accepting a PostgreSQL connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }))
}

/// The lake's catalog with schemas of the server's own beside its databases
/// (`pg_catalog`).
#[derive(Debug)]
struct WithPgCatalog {
    lake: Arc<dyn CatalogProvider>,
    own: std::sync::RwLock<std::collections::BTreeMap<String, Arc<dyn SchemaProvider>>>,
}

impl WithPgCatalog {
    fn new(lake: Arc<dyn CatalogProvider>) -> Self {
        WithPgCatalog {
            lake,
            own: Default::default(),
        }
    }

    /// The lake database `name` means to the current connection's caller, if it may see
    /// it: a project's caller sees its own database, also as `default`.
    fn lake_database(name: &str) -> Option<String> {
        match seen()? {
            Seen::All => Some(name.to_string()),
            Seen::Only(own) => (name == own || name == risklake_lake::DEFAULT_DATABASE).then_some(own),
        }
    }
}

impl CatalogProvider for WithPgCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = match seen() {
            Some(Seen::All) => self.lake.schema_names(),
            Some(Seen::Only(own)) => self.lake.schema_names().into_iter().filter(|n| *n == own).collect(),
            None => Vec::new(),
        };
        names.extend(self.own.read().unwrap_or_else(|p| p.into_inner()).keys().cloned());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let own = self.own.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned();
        own.or_else(|| self.lake.schema(&Self::lake_database(name)?))
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> datafusion::error::Result<Option<Arc<dyn SchemaProvider>>> {
        let schema: Arc<dyn SchemaProvider> = Arc::new(ReadWhenPlanned(schema));
        Ok(self
            .own
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), schema))
    }
}

/// The server's own schemas (`pg_catalog`), whose tables list the lake: each is read
/// whole when a query is planned, on the connection's task, where [`seen`] knows the
/// caller. (Read while the query runs, they could be read on a pool task that does not.)
#[derive(Debug)]
struct ReadWhenPlanned(Arc<dyn SchemaProvider>);

#[async_trait]
impl SchemaProvider for ReadWhenPlanned {
    fn table_names(&self) -> Vec<String> {
        self.0.table_names()
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        Ok(self
            .0
            .table(name)
            .await?
            .map(|t| Arc::new(ReadWhenPlannedTable(t)) as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.0.table_exist(name)
    }
}

#[derive(Debug)]
struct ReadWhenPlannedTable(Arc<dyn TableProvider>);

#[async_trait]
impl TableProvider for ReadWhenPlannedTable {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> datafusion::logical_expr::TableType {
        self.0.table_type()
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[datafusion::logical_expr::Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        let plan = self.0.scan(state, projection, filters, limit).await?;
        let schema = plan.schema();
        let batches = datafusion::physical_plan::collect(plan, state.task_ctx()).await?;
        datafusion::datasource::MemTable::try_new(schema, vec![batches])?
            .scan(state, None, &[], limit)
            .await
    }
}

/// Binds the PostgreSQL listener (before the server reports that it started).
pub(crate) async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io(format!("listening for PostgreSQL clients on {addr}"), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::io("reading the bound address", e))?;
    Ok((listener, bound))
}

fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message.into())))
}

/// Authentication: a cleartext password that is an API token, or nobody asked with
/// `--auth none` (loopback only; the server's user with every role).
struct Startup {
    shared: Arc<Shared>,
    pids: RandomPidSecretKeyGenerator,
}

impl Startup {
    async fn accept<C>(&self, client: &mut C, user: String, project: String, role: Role, token: i64) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let meta = client.metadata_mut();
        meta.insert(USER.into(), user);
        meta.insert(PROJECT.into(), project.clone());
        meta.insert(ROLE.into(), role.as_str().into());
        meta.insert(TOKEN.into(), token.to_string());
        meta.insert(TIMEOUT_MS.into(), self.shared.timeout.as_millis().to_string());
        let seen = match self.shared.auth {
            Auth::None => Seen::All,
            Auth::Token => Seen::Only(risklake_app::project_database(&project)),
        };
        // Outside a connection's task nothing is seen anyway; a second sign-in on one
        // connection keeps the first caller's view (its metadata says the same).
        let _ = SEEN.try_with(|s| s.set(seen));
        let (pid, secret) = self.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret);
        finish_authentication(client, &DefaultServerParameterProvider::default()).await
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                match self.shared.auth {
                    Auth::None => {
                        let user = std::env::var("USER").unwrap_or_else(|_| "local".into());
                        self.accept(client, user, "default".into(), Role::Admin, 0).await?;
                    }
                    Auth::Token => {
                        client.set_state(PgWireConnectionState::AuthenticationInProgress);
                        client
                            .send(PgWireBackendMessage::Authentication(Authentication::CleartextPassword))
                            .await?;
                    }
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(password) => {
                let password = password.into_password()?;
                let user = client.metadata().get("user").cloned().unwrap_or_default();
                let store = self.shared.server.queue.clone();
                let secret = password.password.clone();
                let token = tokio::task::spawn_blocking(move || store.verify_token(&secret))
                    .await
                    .map_err(|e| PgWireError::ApiError(Box::new(e)))?
                    .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
                match token {
                    Some(t) => self.accept(client, t.user, t.project, t.role, t.id).await?,
                    None => return Err(PgWireError::InvalidPassword(user)),
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The caller of a connection, as authentication left it.
struct Caller {
    user: String,
    project: String,
    role: Role,
}

/// Who the connection signed in as (from its metadata; no store read).
fn signed_in(client: &(dyn ClientInfo + Send + Sync)) -> PgWireResult<Caller> {
    let meta = client.metadata();
    let get = |k: &str| meta.get(k).cloned().unwrap_or_default();
    let role = Role::parse(&get(ROLE)).ok_or_else(|| user_error("28000", "the connection is not signed in"))?;
    Ok(Caller {
        user: get(USER),
        project: get(PROJECT),
        role,
    })
}

/// Checks the connection's token again (revoked or expired since it connected: refused).
async fn ensure_live(shared: &Shared, client: &(dyn ClientInfo + Send + Sync)) -> PgWireResult<()> {
    if shared.auth != Auth::Token {
        return Ok(());
    }
    let id: i64 = client.metadata().get(TOKEN).and_then(|t| t.parse().ok()).unwrap_or(-1);
    let store = shared.server.queue.clone();
    let live = tokio::task::spawn_blocking(move || store.token_is_live(id))
        .await
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    if live {
        Ok(())
    } else {
        Err(user_error(
            "28000",
            "the connection's token was revoked or has expired; connect again with a valid token",
        ))
    }
}

/// Whether a statement only reads: the lake's rule (the REST API's), and the session
/// statements clients send (settings, transactions, cursors), which change no table.
fn reads(statement: &Statement) -> bool {
    risklake_lake::sql::statement_reads(statement)
        || matches!(
            statement,
            Statement::Set(_)
                | Statement::StartTransaction { .. }
                | Statement::Commit { .. }
                | Statement::Rollback { .. }
                | Statement::Declare { .. }
                | Statement::Fetch { .. }
                | Statement::Close { .. }
                | Statement::Discard { .. }
                | Statement::Deallocate { .. }
        )
}

/// First of the hooks: a live token for every statement run, and the viewer's read-only
/// rule.
struct Access {
    shared: Arc<Shared>,
}

impl Access {
    /// The token is read from the store when a statement runs (`live`); preparing one
    /// checks the role only.
    async fn check(
        &self,
        statement: &Statement,
        client: &(dyn ClientInfo + Send + Sync),
        live: bool,
    ) -> Option<PgWireResult<()>> {
        if live {
            if let Err(e) = ensure_live(&self.shared, client).await {
                return Some(Err(e));
            }
        }
        let caller = match signed_in(client) {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        if !reads(statement) && caller.role < Role::Editor {
            return Some(Err(user_error(
                "42501",
                format!(
                    "permission denied: {} is a viewer of project {}, and this statement writes (writes need the editor role)",
                    caller.user, caller.project
                ),
            )));
        }
        None
    }
}

#[async_trait]
impl QueryHook for Access {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.check(statement, &*client, true)
            .await
            .map(|r| r.map(|_| Response::EmptyQuery))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        self.check(statement, client, false)
            .await
            .map(|r| r.map(|_| empty_plan()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.check(statement, &*client, true)
            .await
            .map(|r| r.map(|_| Response::EmptyQuery))
    }
}

fn empty_plan() -> LogicalPlan {
    LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(DFSchema::empty()),
    })
}

/// Last of the hooks: an editor's statement that writes runs as the workflow layer's
/// `sql` request in the token's project (commit locks, a recorded run), and is audited.
struct Writes {
    shared: Arc<Shared>,
}

impl Writes {
    async fn run(&self, statement: &Statement, client: &(dyn ClientInfo + Send + Sync)) -> PgWireResult<Response> {
        // The Access hook checked the token for this statement.
        let caller = signed_in(client)?;
        let sql = statement.to_string();
        let shared = self.shared.clone();
        let report = async {
            let ws = shared.server.workspace(&caller.project)?;
            let request = risklake_app::sql::SqlRequest {
                sql: sql.clone(),
                files: Default::default(),
            };
            let report = risklake_app::sql::run(&ws, &request, &risklake_app::progress::Silent).await?;
            let run = report.run.map(|r| r.to_string()).unwrap_or_default();
            shared.server.queue.audit(
                &caller.user,
                &caller.project,
                "sql",
                &run,
                &sql.chars().take(500).collect::<String>(),
            )?;
            Ok::<_, Error>(report)
        };
        let report = match tokio::time::timeout(self.shared.timeout, report).await {
            Ok(r) => r.map_err(|e| user_error(sqlstate(&e), e.to_string()))?,
            Err(_) => return Err(user_error("57014", "canceling statement due to statement timeout")),
        };
        let rows = report
            .results
            .last()
            .and_then(|r| r.batches.first())
            .and_then(|b| {
                b.column_by_name("count")
                    .and_then(|c| c.as_any().downcast_ref::<datafusion::arrow::array::UInt64Array>())
                    .map(|a| a.value(0) as usize)
            })
            .unwrap_or(0);
        let tag = Tag::new(command_tag(statement)).with_rows(rows);
        // PostgreSQL answers "INSERT <oid> <rows>"; clients parse the oid.
        let tag = if matches!(statement, Statement::Insert(_)) {
            tag.with_oid(0)
        } else {
            tag
        };
        Ok(Response::Execution(tag))
    }
}

/// The command tag PostgreSQL answers a write with.
fn command_tag(statement: &Statement) -> &'static str {
    match statement {
        Statement::Insert(_) => "INSERT",
        Statement::Update { .. } => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Merge { .. } => "MERGE",
        Statement::Truncate { .. } => "TRUNCATE",
        Statement::CreateTable(c) if c.query.is_some() => "SELECT",
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateView { .. } => "CREATE VIEW",
        Statement::Drop { .. } => "DROP",
        Statement::AlterTable { .. } => "ALTER TABLE",
        _ => "OK",
    }
}

/// The SQLSTATE of a workflow error.
fn sqlstate(e: &Error) -> &'static str {
    match e {
        Error::NotFound { .. } => "42P01",
        Error::Conflict(_) => "40001",
        Error::Param { .. } | Error::Invalid(_) => "22023",
        _ => "XX000",
    }
}

#[async_trait]
impl QueryHook for Writes {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if reads(statement) {
            return None;
        }
        Some(self.run(statement, &*client).await)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // Writes are planned when they run, by the workflow.
        (!reads(statement)).then(|| Ok(empty_plan()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if reads(statement) {
            return None;
        }
        let bound = match params {
            ParamValues::List(l) => !l.is_empty(),
            ParamValues::Map(m) => !m.is_empty(),
        };
        if bound {
            return Some(Err(user_error(
                "0A000",
                "a statement that writes takes no bound parameters here; write the values into the statement",
            )));
        }
        Some(self.run(statement, &*client).await)
    }
}
