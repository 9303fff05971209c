#!/usr/bin/env bash
# The README's test command: sets up everything the tests need on a fresh Debian machine
# (PostgreSQL and MariaDB servers, a Python venv with the reference pypaimon), then runs the Rust tests
# and the interoperability tests. Safe to re-run: installs are skipped when present.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/risklake-target}
# CI builds a fresh clone each time: incremental caches would only pile up (tens of GB) in
# the shared target folder without speeding the next clone's build.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
# The Python package's extension module (python/) leaves Python's symbols to the
# interpreter: cargo builds it as maturin does, without linking libpython.
export PYO3_BUILD_EXTENSION_MODULE=1
VENV=${RISKLAKE_VENV:-/var/tmp/risklake-venv}
PGDATA_DIR=${RISKLAKE_PGDATA:-/var/tmp/risklake-pgdata}
PGPORT=${RISKLAKE_PGPORT:-54329}

log() { printf '\n== %s\n' "$*"; }

# --- PostgreSQL (Debian packages), on 127.0.0.1 only -------------------------------------
pg_bin() {
  # The server's folder (a client-only install has psql there but no initdb).
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; fi
}
if [ -z "$(pg_bin)" ]; then
  log "installing PostgreSQL from Debian packages"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
PGBIN=$(pg_bin)
run_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}
if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
  log "creating a PostgreSQL cluster in $PGDATA_DIR"
  mkdir -p "$PGDATA_DIR"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA_DIR"
  run_pg "$PGBIN/initdb -D $PGDATA_DIR -U postgres --auth=trust >/dev/null"
fi
# One role must prove its password (SCRAM) so the tests can check that a password from
# PGPASSWORD or a file reaches the server; every other connection is trusted. pg_hba.conf
# takes the first matching line, so the rule goes on top.
if ! grep -q risklake_pw "$PGDATA_DIR/pg_hba.conf"; then
  run_pg "sed -i '1i host all risklake_pw 127.0.0.1/32 scram-sha-256' $PGDATA_DIR/pg_hba.conf"
  RELOAD_PG=1
fi
if ! run_pg "$PGBIN/pg_ctl -D $PGDATA_DIR status" >/dev/null 2>&1; then
  log "starting PostgreSQL on 127.0.0.1:$PGPORT"
  run_pg "$PGBIN/pg_ctl -D $PGDATA_DIR -l $PGDATA_DIR/server.log -w -o '-p $PGPORT -c listen_addresses=127.0.0.1 -k /tmp' start" >/dev/null
  STARTED_PG=1
fi
if [ "${RELOAD_PG:-0}" = 1 ] && [ "${STARTED_PG:-0}" != 1 ]; then run_pg "$PGBIN/pg_ctl -D $PGDATA_DIR reload" >/dev/null; fi
stop_pg() { if [ "${STARTED_PG:-0}" = 1 ]; then run_pg "$PGBIN/pg_ctl -D $PGDATA_DIR -m fast stop" >/dev/null 2>&1 || true; fi; }
trap stop_pg EXIT
export RISKLAKE_TEST_PG_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"

# --- MariaDB (Debian packages), on 127.0.0.1 only ----------------------------------------
# The MySQL ingest source is tested against a real server. Its data folder lives outside
# the clone; the server is started here and stopped when the tests end.
MYDATA_DIR=${RISKLAKE_MYSQLDATA:-/var/tmp/risklake-mysqldata}
MYPORT=${RISKLAKE_MYSQLPORT:-33069}
MYSOCK=/tmp/risklake-mysql-$MYPORT.sock
if ! command -v mariadbd >/dev/null || ! command -v mariadb-install-db >/dev/null; then
  log "installing MariaDB from Debian packages"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-server >/dev/null
  # The package starts its own server on the default port; ours runs apart from it.
fi
if [ "$(id -u)" = 0 ]; then MYUSER=(--user=mysql); MYADMIN=root; else MYUSER=(); MYADMIN=$(id -un); fi
if [ ! -d "$MYDATA_DIR/mysql" ]; then
  log "creating a MariaDB data folder in $MYDATA_DIR"
  mkdir -p "$MYDATA_DIR"
  [ "$(id -u)" = 0 ] && chown mysql:mysql "$MYDATA_DIR"
  mariadb-install-db --no-defaults --datadir="$MYDATA_DIR" "${MYUSER[@]}" --auth-root-authentication-method=socket \
    --skip-test-db >"$MYDATA_DIR.install.log" 2>&1
fi
my_admin() { mariadb --no-defaults -S "$MYSOCK" -u "$MYADMIN" "$@"; }
if ! my_admin -e "SELECT 1" >/dev/null 2>&1; then
  log "starting MariaDB on 127.0.0.1:$MYPORT"
  (setsid mariadbd --no-defaults --datadir="$MYDATA_DIR" "${MYUSER[@]}" --port="$MYPORT" --bind-address=127.0.0.1 \
    --socket="$MYSOCK" --pid-file="$MYDATA_DIR/mariadbd.pid" --log-error="$MYDATA_DIR/server.log" \
    --innodb-buffer-pool-size=64M --skip-name-resolve >/dev/null 2>&1 &)
  for _ in $(seq 1 120); do my_admin -e "SELECT 1" >/dev/null 2>&1 && break; sleep 0.5; done
  my_admin -e "SELECT 1" >/dev/null || { tail -20 "$MYDATA_DIR/server.log"; exit 1; }
  STARTED_MY=1
fi
# The tests' user: no password (the password test makes a user of its own that needs one).
my_admin -e "CREATE DATABASE IF NOT EXISTS risklake_test;
  CREATE USER IF NOT EXISTS 'risklake'@'127.0.0.1';
  GRANT ALL ON *.* TO 'risklake'@'127.0.0.1' WITH GRANT OPTION;"
stop_my() {
  if [ "${STARTED_MY:-0}" = 1 ] && [ -f "$MYDATA_DIR/mariadbd.pid" ]; then
    kill "$(cat "$MYDATA_DIR/mariadbd.pid")" 2>/dev/null || true
  fi
}
trap 'stop_pg; stop_my' EXIT
export RISKLAKE_TEST_MYSQL_URL="mysql://risklake@127.0.0.1:$MYPORT/risklake_test"

# --- Chromium for the dashboard's browser tests (Debian's; Playwright drives it) ------------
# Never `playwright install`: it downloads a browser build from a CDN these machines cannot reach.
export RISKLAKE_CHROMIUM=${RISKLAKE_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$RISKLAKE_CHROMIUM" ]; then
  log "installing Chromium from Debian packages (for the dashboard's browser tests)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# --- Python venv with the reference tools ------------------------------------------------
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import pypaimon, pyarrow, pytest, toad, optbinning, scorecardpy, lightgbm, statsmodels, optuna, optuna_dashboard, mlflow, psycopg, playwright, maturin, polars" 2>/dev/null; then
  log "creating the Python venv $VENV (pypaimon, pyarrow, pytest, toad, optbinning, scorecardpy, lightgbm, statsmodels, optuna, optuna-dashboard, mlflow-skinny, psycopg, playwright, maturin, polars)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/tests/interop/requirements.txt"
fi

# --- Rust tests ---------------------------------------------------------------------------
log "cargo test (target dir $CARGO_TARGET_DIR)"
cargo test --workspace --locked 2>&1

# --- Interoperability tests with the reference implementations ------------------------------
log "interoperability tests (pypaimon, toad, optbinning, scorecardpy, lightgbm, statsmodels, scikit-learn, optuna, optuna-dashboard, mlflow, psql and psycopg)"
cargo build --locked -p risklake-cli --bin risklake 2>&1
export RISKLAKE_BIN="$CARGO_TARGET_DIR/debug/risklake"
# LightGBM's OpenMP threads must not spin while idle on a shared machine.
export OMP_WAIT_POLICY=PASSIVE
"$VENV/bin/python" -m pytest -q "$ROOT/tests/interop"

# --- The dashboard in a real browser --------------------------------------------------------
log "browser tests of the dashboard (Playwright driving $RISKLAKE_CHROMIUM)"
"$VENV/bin/python" -m pytest -q "$ROOT/tests/browser"

# --- The Python package ----------------------------------------------------------------------
# Built by maturin's PEP 517 backend in the workspace's dev profile, so it reuses what the
# Rust tests compiled (see python/pyproject.toml), and installed into the test venv.
log "building the Python package (python/, maturin) into $VENV"
# maturin's backend runs the `maturin` command: the venv's bin goes first on PATH.
PATH="$VENV/bin:$PATH" "$VENV/bin/pip" install -q --disable-pip-version-check --no-build-isolation --no-deps \
  --force-reinstall "$ROOT/python"
log "tests of the Python package (tests/python)"
"$VENV/bin/python" -m pytest -q "$ROOT/tests/python"
