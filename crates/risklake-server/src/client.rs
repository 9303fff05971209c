//! A small blocking HTTP/1.1 client for the API (one request per connection): what the
//! CLI's server commands and the tests use, without an HTTP client stack.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;

use risklake_core::{Error, Result};

/// A server's address, from `http://host:port` or `host:port`.
#[derive(Clone, Debug)]
pub struct Client {
    addr: SocketAddr,
    timeout: Duration,
    token: Option<String>,
}

impl Client {
    pub fn new(url: &str) -> Result<Self> {
        let hostport = url.trim_start_matches("http://").trim_end_matches('/');
        if url.starts_with("https://") {
            return Err(Error::param("server", "https is not served yet; give http://host:port"));
        }
        let addr = hostport
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| Error::param("server", format!("{url:?} is not host:port")))?;
        Ok(Client {
            addr,
            timeout: Duration::from_secs(300),
            token: None,
        })
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.trim().is_empty());
        self
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// One request: the status and the body as text.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
        let err = |e: std::io::Error| Error::io(format!("talking to the server at {}", self.addr), e);
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10)).map_err(err)?;
        s.set_read_timeout(Some(self.timeout)).map_err(err)?;
        let body = body.unwrap_or("");
        let auth = match &self.token {
            Some(t) => format!("Authorization: Bearer {}\r\n", t.trim()),
            None => String::new(),
        };
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\n\
             {auth}Content-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .map_err(err)?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(err)?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let bad = || {
            Error::external(
                format!("the server at {}", self.addr),
                "answered something that is not HTTP",
            )
        };
        let (head, rest) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        Ok((status, body))
    }

    /// One request with a JSON body and answer.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let text = body.map(Value::to_string);
        let (status, body) = self.request(method, path, text.as_deref())?;
        let v = serde_json::from_str(&body).map_err(|_| {
            Error::external(
                format!("{method} {path}"),
                format!("the answer ({status}) is not JSON: {body}"),
            )
        })?;
        Ok((status, v))
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest.get(n + 2..).unwrap_or("");
    }
    out
}
