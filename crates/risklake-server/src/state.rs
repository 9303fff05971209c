//! What every handler shares: the server's state, the authenticated caller with its
//! role checks, and the API's error answer (a kind, a message, the HTTP status).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use risklake_core::{Error, ErrorKind};
use risklake_track::Role;

use crate::runner::Shared;

/// The server's state, shared by every request.
#[derive(Clone)]
pub(crate) struct State {
    pub shared: Arc<Shared>,
    pub auth: crate::Auth,
    pub files: Option<PathBuf>,
    pub sql_rows: usize,
    pub sql_timeout: Duration,
}

/// An error as an HTTP answer: a workflow-layer error (its kind picks the status), or a
/// refusal by authentication (401) or authorization (403).
pub(crate) enum ApiError {
    Core(Error),
    Denied(StatusCode, String),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Core(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = match self {
            ApiError::Core(e) => e,
            ApiError::Denied(status, message) => {
                let kind = if status == StatusCode::UNAUTHORIZED {
                    "unauthorized"
                } else {
                    "forbidden"
                };
                return (status, Json(json!({"error": {"kind": kind, "message": message}}))).into_response();
            }
        };
        let (status, kind) = match e.kind() {
            ErrorKind::Invalid => (StatusCode::BAD_REQUEST, "invalid"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorKind::Cancelled => (StatusCode::CONFLICT, "cancelled"),
            ErrorKind::External => (StatusCode::INTERNAL_SERVER_ERROR, "external"),
        };
        let mut error = json!({"kind": kind, "message": e.to_string()});
        if let Error::Param { param, .. } = &e {
            error["param"] = json!(param);
        }
        (status, Json(json!({ "error": error }))).into_response()
    }
}

/// Who calls: the token's user, project and role (`--auth none`: the server's user, any
/// project, admin).
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub user: String,
    /// The one project a token may use; `None` with `--auth none`.
    pub project: Option<String>,
    pub role: Role,
}

impl Caller {
    /// A token works in its own project only (403 for another).
    pub(crate) fn may_use(&self, project: &str) -> std::result::Result<(), ApiError> {
        match &self.project {
            Some(own) if own != project => Err(denied(
                StatusCode::FORBIDDEN,
                &format!("this token is for project {own}, not {project}"),
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn needs(&self, role: Role, what: &str) -> std::result::Result<(), ApiError> {
        if self.role >= role {
            return Ok(());
        }
        Err(denied(
            StatusCode::FORBIDDEN,
            &format!(
                "{what} needs the {} role; this token is a {}",
                role.as_str(),
                self.role.as_str()
            ),
        ))
    }
}

pub(crate) fn denied(status: StatusCode, message: &str) -> ApiError {
    ApiError::Denied(status, message.to_string())
}
