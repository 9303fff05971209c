//! `submit` and `jobs`: the same workflow requests the commands build, run on a server.

use clap::Parser;
use serde_json::{json, Value};

use risklake_app::jobs::WorkflowRequest;
use risklake_core::{Error, Result};
use risklake_server::client::Client;

use crate::app::{Cli, Command, FeaturesCommand, GenCommand, JobsCommand, SubmitArgs, TrainCommand};
use crate::output::{kv_table, Out};

/// What can be submitted, for the error that names the rest.
const SUBMITTABLE: &str =
    "ingest, gen credit, sql, features bin, features evaluate, train gbdt|rf|lr, predict, tune, maintain";

/// The workflow request a command line describes (the command as typed after `submit`).
pub fn workflow_request(command: Command) -> Result<WorkflowRequest> {
    use WorkflowRequest as W;
    Ok(match command {
        Command::Ingest(a) => {
            if a.job.is_some() {
                return Err(Error::param(
                    "job",
                    "a job file is read here; submit its sources one by one (ingest SOURCE --table T)",
                ));
            }
            W::Ingest(super::ingest::request_from_args(&a)?)
        }
        Command::Gen(GenCommand::Credit(a)) => W::Gen(super::gen::gen_request(&a)?),
        Command::Sql(a) => {
            if a.out.is_some() {
                return Err(Error::param(
                    "out",
                    "a submitted query's rows come back in the job's report; write a table with CREATE TABLE ... AS",
                ));
            }
            let sql = match (&a.query, &a.script) {
                (Some(q), _) => q.clone(),
                (None, Some(path)) => {
                    std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?
                }
                (None, None) => return Err(Error::param("query", "is required to submit SQL (the shell runs here)")),
            };
            W::Sql(risklake_app::sql::SqlRequest {
                sql,
                files: super::sql::files_of(&a)?,
            })
        }
        Command::Features(FeaturesCommand::Bin(a)) => W::Bin(super::features::bin_request(&a)?),
        Command::Features(FeaturesCommand::Evaluate(a)) => W::Evaluate(super::features::evaluate_request(&a)?),
        Command::Train(TrainCommand::Gbdt(a)) => W::TrainGbdt(super::requests::tree_request(&a)?),
        Command::Train(TrainCommand::Rf(a)) => W::TrainRf(super::requests::tree_request(&a)?),
        Command::Train(TrainCommand::Lr(a)) => W::TrainLr(super::requests::lr_request(&a)?),
        Command::Predict(a) => W::Predict(super::requests::predict_request(&a)?),
        Command::Tune(a) => W::Tune(super::tune::request(&a)?),
        Command::Maintain(a) => W::Maintain(super::lake::maintain_request(&a)),
        _ => {
            return Err(Error::param(
                "command",
                format!("this command cannot be submitted to a server (yet); these can: {SUBMITTABLE}"),
            ))
        }
    })
}

/// The server's error answer as an error of the same kind.
fn answer_error(status: u16, v: &Value) -> Error {
    let message = v["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string());
    match status {
        404 => Error::NotFound {
            kind: "server resource",
            name: message,
        },
        409 => Error::Conflict(message),
        400..=499 => Error::invalid(format!("the server refused the request: {message}")),
        _ => Error::external("the server", format!("{status}: {message}")),
    }
}

/// One API call whose non-2xx answer becomes an error of the matching kind.
pub(super) fn call(client: &Client, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
    let (status, v) = client.call(method, path, body)?;
    if (200..300).contains(&status) {
        Ok(v)
    } else {
        Err(answer_error(status, &v))
    }
}

fn project_query(project: &str) -> String {
    format!(
        "project={}",
        project.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-', "")
    )
}

fn show_job(out: Out, job: &Value) {
    out.emit(job.clone(), || {
        let mut rows = vec![
            ("job", job["id"].to_string()),
            ("kind", job["kind"].as_str().unwrap_or_default().to_string()),
            ("status", job["status"].as_str().unwrap_or_default().to_string()),
            ("project", job["project"].as_str().unwrap_or_default().to_string()),
            ("runs", job["runs"].to_string()),
        ];
        for (k, label) in [
            ("created_at", "created"),
            ("started_at", "started"),
            ("ended_at", "ended"),
        ] {
            if let Some(t) = job[k].as_str() {
                rows.push((label, t.to_string()));
            }
        }
        if let Some(e) = job["error"].as_str() {
            rows.push(("error", e.to_string()));
        }
        kv_table(rows)
    });
}

pub async fn submit(out: Out, project: &str, args: SubmitArgs) -> Result<()> {
    let argv = std::iter::once("risklake".to_string()).chain(args.command.iter().cloned());
    let cli = Cli::try_parse_from(argv).map_err(|e| {
        Error::param(
            "command",
            format!("does not read as a risklake command:\n{}", e.render()),
        )
    })?;
    let req = workflow_request(cli.command)?;
    let mut body = serde_json::to_value(&req).map_err(|e| Error::invalid(format!("the request: {e}")))?;
    body["project"] = json!(project);
    if args.requeue {
        body["on_interrupt"] = json!("requeue");
    }
    let client = Client::new(&args.server)?.with_token(args.token.clone());
    let job = call(&client, "POST", "/api/v1/jobs", Some(&body))?;
    let id = job["id"].as_i64().unwrap_or_default();
    if !args.wait {
        show_job(out, &job);
        return Ok(());
    }
    out.note(format!("job {id} queued on {}", args.server));
    let mut after = 0i64;
    let job = loop {
        let logs = call(
            &client,
            "GET",
            &format!("/api/v1/jobs/{id}/logs?after={after}&{}", project_query(project)),
            None,
        )?;
        for line in logs["lines"].as_array().into_iter().flatten() {
            after = line["seq"].as_i64().unwrap_or(after);
            out.note(format!("job {id}: {}", line["line"].as_str().unwrap_or_default()));
        }
        if matches!(logs["status"].as_str(), Some("succeeded" | "failed" | "cancelled")) {
            break call(
                &client,
                "GET",
                &format!("/api/v1/jobs/{id}?{}", project_query(project)),
                None,
            )?;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    show_job(out, &job);
    match job["status"].as_str() {
        Some("succeeded") => Ok(()),
        Some("cancelled") => Err(Error::Cancelled),
        _ => Err(Error::external(
            format!("job {id}"),
            job["error"].as_str().unwrap_or("failed"),
        )),
    }
}

pub fn jobs(out: Out, project: &str, cmd: JobsCommand) -> Result<()> {
    let q = project_query(project);
    match cmd {
        JobsCommand::List {
            server,
            token,
            status,
            limit,
        } => {
            let client = Client::new(&server)?.with_token(token);
            let mut path = format!("/api/v1/jobs?{q}&limit={limit}");
            if let Some(s) = status {
                path += &format!("&status={}", s.replace(|c: char| !c.is_ascii_alphabetic(), ""));
            }
            let v = call(&client, "GET", &path, None)?;
            out.emit(v.clone(), || {
                let mut text = String::from("  id  kind                status      runs      created\n");
                for j in v["jobs"].as_array().into_iter().flatten() {
                    text += &format!(
                        "{:>4}  {:<18}  {:<10}  {:<8}  {}\n",
                        j["id"].as_i64().unwrap_or_default(),
                        j["kind"].as_str().unwrap_or_default(),
                        j["status"].as_str().unwrap_or_default(),
                        j["runs"].to_string(),
                        j["created_at"].as_str().unwrap_or_default()
                    );
                }
                text
            });
        }
        JobsCommand::Show { id, server, token } => {
            let client = Client::new(&server)?.with_token(token);
            let v = call(&client, "GET", &format!("/api/v1/jobs/{id}?{q}"), None)?;
            show_job(out, &v);
        }
        JobsCommand::Logs { id, server, token } => {
            let client = Client::new(&server)?.with_token(token);
            let v = call(&client, "GET", &format!("/api/v1/jobs/{id}/logs?{q}"), None)?;
            out.emit(v.clone(), || {
                v["lines"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| {
                        format!(
                            "{}  {}",
                            l["at"].as_str().unwrap_or_default(),
                            l["line"].as_str().unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        JobsCommand::Cancel { id, server, token } => {
            let client = Client::new(&server)?.with_token(token);
            let v = call(&client, "DELETE", &format!("/api/v1/jobs/{id}?{q}"), None)?;
            show_job(out, &v);
        }
    }
    Ok(())
}

/// `token create / list / revoke` on this home's store (what the server reads).
pub fn token(
    out: Out,
    home: &std::path::Path,
    store: Option<&str>,
    project: &str,
    cmd: crate::app::TokenCommand,
) -> Result<()> {
    use crate::app::TokenCommand as T;
    use risklake_track::Role;
    let store = risklake_track::SqlStore::open_at(home, store)?;
    let me = std::env::var("USER").unwrap_or_else(|_| "local".into());
    match cmd {
        T::Create {
            user,
            role,
            expires_days,
        } => {
            let role = Role::parse(&role).ok_or_else(|| Error::param("role", "is viewer, editor or admin"))?;
            let expires = expires_days.map(|d| {
                (chrono::Utc::now() + chrono::Duration::days(d as i64))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            });
            let (t, secret) = store.create_token(&user, project, role, expires.as_deref())?;
            store.audit(
                &me,
                project,
                "token.create",
                &format!("token {}", t.id),
                &format!("{} {}", t.user, role.as_str()),
            )?;
            out.emit(json!({"token": t, "secret": secret}), || {
                format!(
                    "token {} for {} in project {} as {}:\n\n  {secret}\n\nShown once: keep it (e.g. in RISKLAKE_TOKEN); the store keeps only its digest.",
                    t.id,
                    t.user,
                    t.project,
                    role.as_str()
                )
            });
        }
        T::List => {
            let tokens = store.list_tokens(Some(project))?;
            out.emit(json!({ "tokens": tokens }), || {
                let mut text =
                    String::from("  id  user          role     created                   expires / revoked\n");
                for t in &tokens {
                    text += &format!(
                        "{:>4}  {:<12}  {:<7}  {:<24}  {}\n",
                        t.id,
                        t.user,
                        t.role.as_str(),
                        t.created_at,
                        t.revoked_at
                            .as_deref()
                            .map(|r| format!("revoked {r}"))
                            .or_else(|| t.expires_at.clone())
                            .unwrap_or_default()
                    );
                }
                text
            });
        }
        T::Revoke { id } => {
            let t = store.revoke_token(id)?;
            store.audit(&me, &t.project, "token.revoke", &format!("token {id}"), &t.user)?;
            out.emit(json!({ "revoked": t }), || format!("token {id} ({}) revoked", t.user));
        }
    }
    Ok(())
}
