//! Signals. SIGPIPE ends the process quietly. The first SIGINT or SIGTERM asks the
//! running workflow to stop: it does so at its next batch or iteration, leaves the lake
//! and the store as they were and marks its run `cancelled` (exit 130 / 143, as shells
//! report those signals). A second signal, or a workflow that has not stopped within
//! [`GRACE`], ends the process at once; its run is then marked `interrupted`.
//!
//! The signals are blocked in every thread and taken by one watcher thread with
//! `sigwait`, so the handling runs as ordinary code (opening the store is not
//! async-signal-safe). Lake writes need no handling: an uncommitted write is invisible,
//! and a commit is atomic. What an interrupted write had put on disk stays there,
//! unreferenced, until orphan files are removed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// How long a workflow has to stop after the first signal.
const GRACE: Duration = Duration::from_secs(10);

/// The signal that asked for a stop (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Whether a signal asked the running workflow to stop.
pub fn stop_requested() -> bool {
    SIGNAL.load(Ordering::Relaxed) != 0
}

/// The exit code of a workflow that stopped on request: 128 + the signal, or 130.
pub fn cancelled_exit_code() -> u8 {
    match SIGNAL.load(Ordering::Relaxed) {
        0 => 130,
        s => (128 + s) as u8,
    }
}

fn name(sig: libc::c_int) -> &'static str {
    if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}

pub fn watch(home: PathBuf) {
    // Output into a closed pipe (`risklake runs list | head -1`) ends the process quietly,
    // as it does for Unix tools, instead of a panic in println!. A run it had open is
    // marked interrupted by the next command that opens the store.
    // SAFETY: setting a signal's disposition to the default is always sound.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // SAFETY: plain libc calls on a local signal set; called before any other thread
    // starts, as pthread_sigmask requires for the mask to be inherited by all.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        set
    };
    let spawned = std::thread::Builder::new()
        .name("risklake-signals".into())
        .spawn(move || {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is a valid, initialized signal set owned by this closure.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                return;
            }
            SIGNAL.store(sig, Ordering::Relaxed);
            eprintln!("{}: stopping at the next step (again to stop at once)", name(sig));
            let timeout = libc::timespec {
                tv_sec: GRACE.as_secs() as libc::time_t,
                tv_nsec: 0,
            };
            // SAFETY: as above; `info` is written by the call.
            let again = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                libc::sigtimedwait(&set, &mut info, &timeout)
            };
            let (sig, why) = if again > 0 {
                (again, format!("stopped by a second {}", name(again)))
            } else {
                (
                    sig,
                    format!(
                        "stopped by {} ({} s without reaching a stopping point)",
                        name(sig),
                        GRACE.as_secs()
                    ),
                )
            };
            // Only a home that exists has runs; never create one on the way out.
            if home.join("store.db").exists() {
                if let Ok(store) = risklake_track::SqlStore::open(&home) {
                    use risklake_track::Store;
                    if let Ok(runs) = store.interrupt_own_runs(&why) {
                        for r in runs {
                            eprintln!("run {r} interrupted: {why}");
                        }
                    }
                }
            }
            std::process::exit(128 + sig);
        });
    if spawned.is_err() {
        // Without a watcher, let the signals act as they would by default.
        // SAFETY: as above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}
