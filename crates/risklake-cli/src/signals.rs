//! SIGPIPE ends the process quietly. SIGINT and SIGTERM: the run this process recorded as running is marked `interrupted`
//! before the process exits (130 / 143, as shells report a death by those signals).
//!
//! The signals are blocked in every thread and taken by one watcher thread with
//! `sigwait`, so the handling runs as ordinary code (opening the store is not
//! async-signal-safe). Lake writes need no handling: an uncommitted write is invisible,
//! and a commit is atomic. What the process had written but not committed stays on disk
//! as unreferenced files until `risklake maintain` removes them.

use std::path::PathBuf;

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
            let name = if sig == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
            // Only a home that exists has runs; never create one on the way out.
            if home.join("store.db").exists() {
                if let Ok(store) = risklake_track::SqliteStore::open(&home) {
                    use risklake_track::Store;
                    if let Ok(runs) = store.interrupt_own_runs(&format!("stopped by {name}")) {
                        for r in runs {
                            eprintln!("run {r} interrupted by {name}");
                        }
                    }
                }
            }
            std::process::exit(128 + sig);
        });
    if spawned.is_err() {
        // Without a watcher, restore the default dispositions' effect.
        // SAFETY: as above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}
