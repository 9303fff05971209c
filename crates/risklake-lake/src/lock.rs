//! Cross-process commit locks, one per table.
//!
//! paimon-rust 0.4 publishes a snapshot by checking that `snapshot-N` does not exist and
//! then renaming its file onto that name; the rename replaces a file that another writer
//! published in between, so two concurrent commits can both "succeed" with one of them
//! lost. Java Paimon closes that window with a catalog lock held around check-and-rename;
//! this is ours: an advisory `flock` on a file per table under the warehouse's `.locks`
//! folder, held while a commit (or a table's creation, or an SQL statement that writes
//! the table) runs. Every risklake process honours it, so under it the existence check
//! and the rename are one step and paimon's own retry (re-reading the latest snapshot and
//! re-applying its conflict rules) does the rest.
//!
//! The lock belongs to the open file: it goes away when the holder drops it or dies
//! (SIGKILL included), so a crashed writer never blocks the table. The folder's name has
//! no `.db` suffix, so the catalog never lists it as a database.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use risklake_core::{Error, Result};

use crate::names::TableName;

/// How long a writer waits for another one's commit before giving up with an error that
/// names the lock file. Commits take milliseconds; only a statement that writes a whole
/// table through SQL holds the lock longer.
const WAIT_LIMIT: Duration = Duration::from_secs(600);

/// A held commit lock; released on drop.
#[derive(Debug)]
pub struct CommitLock {
    _file: File,
}

/// The lock file of a table.
pub fn lock_path(warehouse: &Path, name: &TableName) -> PathBuf {
    warehouse
        .join(".locks")
        .join(format!("{}.{}.lock", name.database, name.table))
}

impl CommitLock {
    /// Waits (without blocking the async runtime's threads) until this process holds the
    /// commit lock of `name`.
    pub async fn acquire(warehouse: &Path, name: &TableName) -> Result<CommitLock> {
        let path = lock_path(warehouse, name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating the lock folder {}", dir.display()), e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening the commit lock {}", path.display()), e))?;
        let started = Instant::now();
        let mut wait = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(CommitLock { _file: file }),
                Err(TryLockError::WouldBlock) => {
                    if started.elapsed() > WAIT_LIMIT {
                        return Err(Error::invalid(format!(
                            "table {name}: another writer has held the commit lock {} for over {} s",
                            path.display(),
                            WAIT_LIMIT.as_secs()
                        )));
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_millis(25));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::io(format!("locking {}", path.display()), e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_waits_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let name = TableName::parse("t").unwrap();
        let first = CommitLock::acquire(dir.path(), &name).await.unwrap();
        // Another open of the same file is another holder, as another process would be.
        let waiter = {
            let w = dir.path().to_path_buf();
            let n = name.clone();
            tokio::spawn(async move { CommitLock::acquire(&w, &n).await.map(|_| Instant::now()) })
        };
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(
            !waiter.is_finished(),
            "the second holder got the lock while the first held it"
        );
        let released = Instant::now();
        drop(first);
        let got = waiter.await.unwrap().unwrap();
        assert!(got >= released);
        // Other tables are independent.
        let other = TableName::parse("u").unwrap();
        let _a = CommitLock::acquire(dir.path(), &name).await.unwrap();
        let _b = CommitLock::acquire(dir.path(), &other).await.unwrap();
    }
}

/// The marker of a table created by a write that has not finished yet: it holds the
/// writer's process (`host:pid:start`). A table with a marker whose process is gone and no
/// snapshot was left by a killed write and is dropped the next time the lake is opened.
pub fn creating_path(warehouse: &Path, name: &TableName) -> PathBuf {
    warehouse
        .join(".locks")
        .join(format!("{}.{}.creating", name.database, name.table))
}
