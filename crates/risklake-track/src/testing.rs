//! The store's tests run on every backend: SQLite always, PostgreSQL when a server is
//! given (`RISKLAKE_TEST_PG_URL`, which scripts/test.sh sets; CI must), each test on a
//! database of its own that is dropped afterwards.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::db::{Conn, Pg};
use crate::SqlStore;

/// One backend a test runs on.
pub(crate) struct Backend {
    pub name: &'static str,
    dir: tempfile::TempDir,
    /// The PostgreSQL store's URL, and the server's maintenance URL and the database
    /// made for the test (dropped when the backend is).
    pg: Option<(String, String, String)>,
}

impl Backend {
    /// Opens the store (again: as another process would).
    pub fn open(&self) -> SqlStore {
        match &self.pg {
            None => SqlStore::open(self.dir.path()).unwrap(),
            Some((url, _, _)) => SqlStore::open_postgres(url, self.dir.path()).unwrap(),
        }
    }

    /// The home (artifacts; the SQLite file).
    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some((_, admin, db)) = &self.pg {
            if let Ok(pg) = Pg::connect(admin) {
                let _ = Conn::Pg(&pg).batch(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
            }
        }
    }
}

/// SQLite, and PostgreSQL when `RISKLAKE_TEST_PG_URL` names a server.
pub(crate) fn backends() -> Vec<Backend> {
    let mut out = vec![Backend {
        name: "sqlite",
        dir: tempfile::tempdir().unwrap(),
        pg: None,
    }];
    match std::env::var("RISKLAKE_TEST_PG_URL") {
        Ok(admin) => {
            static N: AtomicUsize = AtomicUsize::new(0);
            let db = format!(
                "rlk_store_test_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            let pg = Pg::connect(&admin).unwrap();
            Conn::Pg(&pg).batch(&format!("DROP DATABASE IF EXISTS {db}")).unwrap();
            Conn::Pg(&pg).batch(&format!("CREATE DATABASE {db}")).unwrap();
            let (base, _) = admin.rsplit_once('/').expect("a URL with a database");
            out.push(Backend {
                name: "postgres",
                dir: tempfile::tempdir().unwrap(),
                pg: Some((format!("{base}/{db}"), admin.clone(), db)),
            });
        }
        Err(_) => assert!(
            std::env::var("CI").is_err(),
            "CI must provide RISKLAKE_TEST_PG_URL (scripts/test.sh starts the server)"
        ),
    }
    out
}
