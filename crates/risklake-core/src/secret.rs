//! Passwords out of everything risklake prints or records.
//!
//! [`mask`] finds credentials in free text, whatever carries them: the password of a URL's
//! user info (`postgres://u:pw@h/db`), URL query and libpq keyword parameters
//! (`?password=pw`, `password='p w'`), environment-style assignments (`PGPASSWORD=pw`,
//! `MYSQL_PWD=pw`) and JSON fields (`"password": "pw"`). It is applied where text leaves a
//! process: the command line and errors recorded with a run, run parameters, printed
//! errors and source descriptions.

use std::borrow::Cow;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Whether a parameter or variable name names a secret: `password`, `pwd`, `passwd`,
/// `pass`, `secret`, `token` or a name ending in one of them (`PGPASSWORD`, `sslpassword`,
/// `api_token`), any case.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "pass"
        || ["password", "passwd", "pwd", "secret", "token", "apikey", "api_key"]
            .iter()
            .any(|s| k.ends_with(s))
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// `text` with every credential it carries replaced by [`MASK`].
pub fn mask(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    // Byte ranges to replace, found in one scan; they never overlap.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    // URL authorities (`user:pw@host:port`): no `key=value` is looked for inside them.
    let mut authorities: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        // scheme://user:password@host
        if bytes[i..].starts_with(b"://") {
            let start = i + 3;
            let end = bytes[start..]
                .iter()
                .position(|&c| matches!(c, b'/' | b'?' | b'#' | b'"' | b'\'' | b'`') || c.is_ascii_whitespace())
                .map_or(bytes.len(), |p| start + p);
            authorities.push((start, end));
            if let Some(at) = bytes[start..end].iter().rposition(|&c| c == b'@') {
                let userinfo = &bytes[start..start + at];
                if let Some(colon) = userinfo.iter().position(|&c| c == b':') {
                    if colon + 1 < at {
                        spans.push((start + colon + 1, start + at));
                    }
                }
            }
            i = start;
            continue;
        }
        // key=value, key = value, "key": "value"
        if (bytes[i] == b'=' || bytes[i] == b':') && !authorities.iter().any(|&(s, e)| i >= s && i < e) {
            let mut k_end = i;
            let quoted_key = bytes[i] == b':';
            // `"key": "value"`: only quoted keys before a colon (not `user:pw`).
            if quoted_key {
                let mut j = i;
                while j > 0 && bytes[j - 1] == b' ' {
                    j -= 1;
                }
                if j == 0 || bytes[j - 1] != b'"' {
                    i += 1;
                    continue;
                }
                k_end = j - 1;
            } else {
                while k_end > 0 && bytes[k_end - 1] == b' ' {
                    k_end -= 1;
                }
            }
            let mut k_start = k_end;
            while k_start > 0 && is_key_char(bytes[k_start - 1]) {
                k_start -= 1;
            }
            if quoted_key && (k_start == 0 || bytes[k_start - 1] != b'"') {
                i += 1;
                continue;
            }
            if k_start < k_end && is_secret_key(&text[k_start..k_end]) {
                let mut v = i + 1;
                while v < bytes.len() && bytes[v] == b' ' {
                    v += 1;
                }
                // Inside a URL's user info (`u:password=pw@h`) the password is masked
                // already; its value must not swallow what follows (`?password=x`).
                if spans.iter().any(|&(s, e)| v >= s && v < e) {
                    i += 1;
                    continue;
                }
                if v < bytes.len() && (bytes[v] == b'\'' || bytes[v] == b'"') {
                    let q = bytes[v];
                    let mut e = v + 1;
                    while e < bytes.len() && bytes[e] != q {
                        e += if bytes[e] == b'\\' { 2 } else { 1 };
                    }
                    let e = e.min(bytes.len());
                    if e > v + 1 {
                        spans.push((v + 1, e));
                    }
                    i = e + 1;
                    continue;
                }
                let e = bytes[v..]
                    .iter()
                    .position(|&c| {
                        matches!(c, b'&' | b';' | b',' | b'"' | b'\'' | b')' | b'}') || c.is_ascii_whitespace()
                    })
                    .map_or(bytes.len(), |p| v + p);
                if e > v && &text[v..e] != MASK {
                    spans.push((v, e));
                }
                i = e.max(i + 1);
                continue;
            }
        }
        i += 1;
    }
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (s, e) in spans {
        if s < last {
            continue;
        }
        out.push_str(&text[last..s]);
        out.push_str(MASK);
        last = e;
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masks_every_form_and_nothing_else() {
        for (input, expected) in [
            ("postgres://u:pw@h:5432/db", "postgres://u:***@h:5432/db"),
            (
                "postgresql://u:p%40ss@h/db?sslmode=require",
                "postgresql://u:***@h/db?sslmode=require",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://h/db?user=u&password=pw&sslmode=require",
                "postgres://h/db?user=u&password=***&sslmode=require",
            ),
            (
                "mysql://root:s3cr3t@127.0.0.1:3306/x",
                "mysql://root:***@127.0.0.1:3306/x",
            ),
            (
                "host=h user=u password=pw dbname=d",
                "host=h user=u password=*** dbname=d",
            ),
            ("host=h password='p w' dbname=d", "host=h password='***' dbname=d"),
            ("password = pw", "password = ***"),
            ("PGPASSWORD=pw risklake ingest", "PGPASSWORD=*** risklake ingest"),
            ("MYSQL_PWD=pw", "MYSQL_PWD=***"),
            (
                r#"{"url": "postgres://a:b@h/d", "password": "pw", "user": "u"}"#,
                r#"{"url": "postgres://a:***@h/d", "password": "***", "user": "u"}"#,
            ),
            ("api_token=abc,next=1", "api_token=***,next=1"),
            ("--password-file /run/secrets/pg", "--password-file /run/secrets/pg"),
            ("password_file=/run/secrets/pg", "password_file=/run/secrets/pg"),
            (
                "SELECT a = 1, b:c FROM t WHERE x = 'y'",
                "SELECT a = 1, b:c FROM t WHERE x = 'y'",
            ),
            ("12:30 ratio=0.5 time: 3", "12:30 ratio=0.5 time: 3"),
            ("http://example.com/a@b", "http://example.com/a@b"),
            ("", ""),
            ("password=", "password="),
            ("passwörd=x é password=ü", "passwörd=x é password=***"),
            // Found by the fuzzer: a key inside user info must not hide a later secret.
            (
                "postgres://u:password=pw@h/db?password=x&a=1",
                "postgres://u:***@h/db?password=***&a=1",
            ),
            // And a `key=` inside a URL's host part is not a parameter.
            (
                "postgres://u:pw@h:54password=0/db?password=x&s@t",
                "postgres://u:***@h:54password=0/db?password=***&s@t",
            ),
        ] {
            assert_eq!(mask(input), expected, "{input}");
        }
        // Masking is idempotent.
        let once = mask("postgres://u:pw@h/db?password=x").to_string();
        assert_eq!(mask(&once), once);
    }
}
