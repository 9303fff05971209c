//! Which process owns a piece of running work, and whether it is still alive.
//!
//! A run in the project store or a trial in a study is "running" only as long as the
//! process that started it exists. A process id alone is not enough (ids are reused), so
//! the owner is recorded as host, process id and the process's start time (Linux:
//! `/proc/<pid>/stat`, in clock ticks since boot, which never repeats for one boot). A
//! recorded owner on this host whose process id is unused, or used by a process that
//! started at another time, is gone; an owner on another host is never judged.

use std::fmt;

/// The process that owns some running work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    /// Start time of the process (opaque; empty where the platform does not tell).
    pub start: String,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            host: hostname(),
            pid,
            start: start_time(pid).unwrap_or_default(),
        }
    }

    /// Parses the text form `host:pid:start` written by [`fmt::Display`].
    pub fn parse(s: &str) -> Option<Owner> {
        let mut parts = s.rsplitn(3, ':');
        let start = parts.next()?.to_string();
        let pid = parts.next()?.parse().ok()?;
        let host = parts.next()?.to_string();
        Some(Owner { host, pid, start })
    }

    /// Whether the process is known to have ended: on this host, and no process with its
    /// id and start time exists. `false` when it is alive or cannot be judged here.
    pub fn is_gone(&self) -> bool {
        if self.host != hostname() || self.is_me() {
            return false;
        }
        match start_time(self.pid) {
            // The id is in use: by the owner, unless that process started at another time.
            Some(now) => !self.start.is_empty() && now != self.start,
            None => !pid_exists(self.pid),
        }
    }

    fn is_me(&self) -> bool {
        self.pid == std::process::id() && self.host == hostname()
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.host, self.pid, self.start)
    }
}

/// This machine's host name (the kernel's), or `localhost`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".into())
}

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks after boot); `None` where
/// there is no such process or no `/proc`.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields
    // after its closing parenthesis, which is field 2's end.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19).map(str::to_string)
}

fn pid_exists(pid: u32) -> bool {
    if std::path::Path::new("/proc/self").exists() {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        // No /proc to ask: assume alive rather than reap someone else's work.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_child_is_gone() {
        let me = Owner::current();
        assert!(!me.is_gone());
        assert_eq!(Owner::parse(&me.to_string()), Some(me.clone()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = Owner {
            pid,
            ..Owner::current()
        };
        assert!(dead.is_gone(), "{dead}");
        // The same pid with another start time is another process.
        let reused = Owner {
            start: "1".into(),
            ..Owner::current()
        };
        assert!(!reused.is_gone(), "this process is never judged gone");
        let elsewhere = Owner {
            host: "another-host".into(),
            pid,
            start: String::new(),
        };
        assert!(!elsewhere.is_gone(), "owners on other hosts are not judged");
    }
}
