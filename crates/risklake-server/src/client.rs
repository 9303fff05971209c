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
        let answer = self.exchange(method, path, "application/json", body.unwrap_or("").as_bytes())?;
        Ok((answer.status, String::from_utf8_lossy(&answer.body).into_owned()))
    }

    /// One request with a body of any media type (e.g. an Arrow IPC stream): the status,
    /// the headers (names in lower case) and the body as bytes.
    pub fn exchange(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> Result<Answer> {
        let err = |e: std::io::Error| Error::io(format!("talking to the server at {}", self.addr), e);
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10)).map_err(err)?;
        s.set_read_timeout(Some(self.timeout)).map_err(err)?;
        let auth = match &self.token {
            Some(t) => format!("Authorization: Bearer {}\r\n", t.trim()),
            None => String::new(),
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: {content_type}\r\n\
             {auth}Content-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        s.write_all(head.as_bytes()).map_err(err)?;
        s.write_all(body).map_err(err)?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(err)?;
        let bad = || {
            Error::external(
                format!("the server at {}", self.addr),
                "answered something that is not HTTP",
            )
        };
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(bad)?;
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let rest = &raw[split + 4..];
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        let body = if chunked { dechunk(rest) } else { rest.to_vec() };
        Ok(Answer { status, headers, body })
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

/// An answer: status, headers (names in lower case), body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn dechunk(mut s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(at) = s.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&s[..at]);
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        let rest = &s[at + 2..];
        if n == 0 || rest.len() < n {
            break;
        }
        out.extend_from_slice(&rest[..n]);
        s = rest.get(n + 2..).unwrap_or(&[]);
    }
    out
}
