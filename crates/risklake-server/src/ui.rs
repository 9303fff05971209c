//! The web dashboard: a page and its script, shipped inside the binary, that call
//! `/api/v1` from the browser (no workflow here either: every view reads the API).
//!
//! Sign-in keeps the token in an `HttpOnly; SameSite=Strict` cookie. Writes made with that
//! cookie must also carry `X-CSRF-Token` equal to the `rl_csrf` cookie (double submit), and
//! a write a browser marks as coming from another site is refused outright, with or without
//! authentication (see [`check_write`]).

use axum::extract::{Form, State as S};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::state::State;

const INDEX: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const APP_CSS: &str = include_str!("../ui/app.css");
const FAVICON: &str = include_str!("../ui/favicon.svg");

/// The cookie holding the signed-in token (HttpOnly: scripts never see it).
pub(crate) const SESSION: &str = "rl_session";
/// The double-submit CSRF cookie (readable by the page's script, which echoes it).
pub(crate) const CSRF: &str = "rl_csrf";
/// The header a cookie-authenticated write echoes the CSRF cookie in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// What every dashboard answer carries: no framing by other sites, no type sniffing, and
/// scripts and styles from this server only.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                   frame-ancestors 'self'; form-action 'self'; base-uri 'none'";

pub(crate) fn routes() -> Router<State> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", axum::routing::post(logout))
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", "app.js", APP_JS) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset("text/css; charset=utf-8", "app.css", APP_CSS) }),
        )
        .route(
            "/favicon.ico",
            get(|| async { asset("image/svg+xml", "favicon.svg", FAVICON) }),
        )
}

/// A dashboard file: the one built in, or, when `RISKLAKE_UI_DIR` names a folder (for
/// working on the dashboard without rebuilding), that folder's copy.
fn source(name: &str, built_in: &'static str) -> std::borrow::Cow<'static, str> {
    match std::env::var_os("RISKLAKE_UI_DIR") {
        Some(dir) => std::fs::read_to_string(std::path::Path::new(&dir).join(name))
            .map(std::borrow::Cow::Owned)
            .unwrap_or(std::borrow::Cow::Borrowed(built_in)),
        None => std::borrow::Cow::Borrowed(built_in),
    }
}

/// A cookie of the request by name.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Refuses a write (any method but GET / HEAD / OPTIONS) that a browser says comes from
/// another site, and a write by a browser or with the session cookie that does not echo
/// the CSRF cookie in `X-CSRF-Token`. Clients that send neither cookies nor browser
/// headers (curl, the Python client, MLflow) are not affected.
pub(crate) fn check_write(method: &Method, headers: &HeaderMap, by_cookie: bool) -> Result<(), &'static str> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(site, Some("cross-site") | Some("same-site")) {
        return Err("a write from another site is refused");
    }
    let browser = site.is_some() || headers.contains_key(header::ORIGIN);
    if !(by_cookie || browser) {
        return Ok(());
    }
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    match cookie(headers, CSRF) {
        Some(expected) if !sent.is_empty() && same(sent.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err("the X-CSRF-Token header is missing or does not match the rl_csrf cookie (reload the dashboard)"),
    }
}

/// Equal bytes, compared in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn asset(kind: &'static str, name: &str, built_in: &'static str) -> Response {
    let body = source(name, built_in);
    let mut r = (
        [(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response();
    secure(&mut r);
    r
}

fn secure(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
}

fn random_hex() -> String {
    let mut bytes = [0u8; 24];
    // The OS's generator; if it ever fails the login refuses (an empty value never matches).
    if getrandom::fill(&mut bytes).is_err() {
        return String::new();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn set_cookie(name: &str, value: &str, http_only: bool, max_age: Option<u64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if let Some(s) = max_age {
        c.push_str(&format!("; Max-Age={s}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("rl_invalid=1"))
}

/// The signed-in token's owner, if the session cookie holds a live token.
fn signed_in(state: &State, headers: &HeaderMap) -> bool {
    match state.auth {
        crate::Auth::None => true,
        crate::Auth::Token => cookie(headers, SESSION)
            .map(|s| matches!(state.shared.queue.verify_token(s), Ok(Some(_))))
            .unwrap_or(false),
    }
}

async fn index(S(state): S<State>, headers: HeaderMap) -> Response {
    if !signed_in(&state, &headers) {
        return Redirect::to("/ui/login").into_response();
    }
    let mut r = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        source("index.html", INDEX),
    )
        .into_response();
    if cookie(&headers, CSRF).is_none() {
        r.headers_mut()
            .append(header::SET_COOKIE, set_cookie(CSRF, &random_hex(), false, None));
    }
    secure(&mut r);
    r
}

fn login_html(csrf: &str, message: Option<&str>) -> String {
    let note = message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in - risklake</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"stylesheet\" href=\"/ui/app.css\"></head><body class=\"login\"><main>\
         <h1>risklake</h1><form method=\"post\" action=\"/ui/login\">\
         <label for=\"token\">API token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required autofocus>\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\">Sign in</button>{note}\
         <p class=\"hint\">A token comes from <code>risklake token create --user NAME --role viewer</code>.</p>\
         </form></main></body></html>",
        escape(csrf)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn login_page(S(state): S<State>, headers: HeaderMap) -> Response {
    if state.auth == crate::Auth::None {
        return Redirect::to("/ui/").into_response();
    }
    let (csrf, fresh) = match cookie(&headers, CSRF) {
        Some(c) => (c.to_string(), false),
        None => (random_hex(), true),
    };
    let mut r = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        login_html(&csrf, None),
    )
        .into_response();
    if fresh {
        r.headers_mut()
            .append(header::SET_COOKIE, set_cookie(CSRF, &csrf, false, None));
    }
    secure(&mut r);
    r
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    csrf: String,
}

async fn login(S(state): S<State>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let csrf = cookie(&headers, CSRF).unwrap_or("").to_string();
    let refuse = |status: StatusCode, message: &str| {
        let mut r = (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            login_html(&csrf, Some(message)),
        )
            .into_response();
        secure(&mut r);
        r
    };
    if csrf.is_empty() || !same(form.csrf.as_bytes(), csrf.as_bytes()) {
        return refuse(StatusCode::FORBIDDEN, "The sign-in form expired; please try again.");
    }
    let token = form.token.trim();
    match state.shared.queue.verify_token(token) {
        Ok(Some(_)) => {
            let mut r = Redirect::to("/ui/").into_response();
            let h = r.headers_mut();
            // The session ends with the browser (no Max-Age), or sooner when the token does.
            h.append(header::SET_COOKIE, set_cookie(SESSION, token, true, None));
            // A fresh CSRF value per session.
            h.append(header::SET_COOKIE, set_cookie(CSRF, &random_hex(), false, None));
            r
        }
        Ok(None) => refuse(StatusCode::UNAUTHORIZED, "That token is unknown, revoked or expired."),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: String,
}

async fn logout(headers: HeaderMap, Form(form): Form<LogoutForm>) -> Response {
    let expected = cookie(&headers, CSRF).unwrap_or("");
    if expected.is_empty() || !same(form.csrf.as_bytes(), expected.as_bytes()) {
        return (StatusCode::FORBIDDEN, "the sign-out form's CSRF value does not match").into_response();
    }
    let mut r = Redirect::to("/ui/login").into_response();
    let h = r.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(SESSION, "", true, Some(0)));
    h.append(header::SET_COOKIE, set_cookie(CSRF, "", false, Some(0)));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cookies_are_found_by_name_among_several_headers() {
        let h = headers(&[("cookie", "a=1; rl_csrf=abc"), ("cookie", "rl_session=s3cret")]);
        assert_eq!(cookie(&h, CSRF), Some("abc"));
        assert_eq!(cookie(&h, SESSION), Some("s3cret"));
        assert_eq!(cookie(&h, "rl"), None);
        assert_eq!(cookie(&headers(&[("cookie", "rl_csrf=")]), CSRF), None);
    }

    #[test]
    fn writes_need_the_csrf_echo_when_a_browser_or_the_cookie_sends_them() {
        let post = Method::POST;
        // Reads always pass; a plain client without cookies or browser headers passes.
        assert!(check_write(&Method::GET, &headers(&[("sec-fetch-site", "cross-site")]), true).is_ok());
        assert!(check_write(&post, &HeaderMap::new(), false).is_ok());
        // Another site is refused even with the right echo.
        let cross = headers(&[
            ("sec-fetch-site", "cross-site"),
            ("cookie", "rl_csrf=x"),
            ("x-csrf-token", "x"),
        ]);
        assert!(check_write(&post, &cross, false).is_err());
        // The session cookie without the echo, with a wrong one, with an empty cookie: refused.
        assert!(check_write(&post, &headers(&[("cookie", "rl_csrf=x")]), true).is_err());
        let wrong = headers(&[("cookie", "rl_csrf=x"), ("x-csrf-token", "y")]);
        assert!(check_write(&post, &wrong, true).is_err());
        assert!(check_write(&post, &headers(&[("x-csrf-token", "")]), true).is_err());
        // A same-origin browser write without cookies (auth none) still needs the echo.
        let same_origin = headers(&[("sec-fetch-site", "same-origin")]);
        assert!(check_write(&Method::DELETE, &same_origin, false).is_err());
        let good = headers(&[
            ("sec-fetch-site", "same-origin"),
            ("cookie", "rl_csrf=x1"),
            ("x-csrf-token", "x1"),
        ]);
        assert!(check_write(&Method::PUT, &good, true).is_ok());
    }
}
