//! A time bound for SQLite statements, which have none of their own.
//!
//! PostgreSQL cancels a statement past `statement_timeout`; SQLite runs one until it ends,
//! so a search that scans seven million rows holds its connection and its request for as
//! long as the scan takes. SQLite's progress handler can stop a statement between two
//! steps of its virtual machine, but sqlx reaches it only through a typed SQLite
//! connection and the store speaks through the `Any` driver. So every SQLite connection the
//! process opens gets, through SQLite's auto-extension hook, a progress handler and the SQL
//! function `watchpost_deadline(ms)`: a read arms the deadline on its connection with
//! `SELECT watchpost_deadline(ms)`, its statements are interrupted (`SQLITE_INTERRUPT`) once
//! it passes, and the connection is disarmed with `watchpost_deadline(0)` as it returns to
//! the pool. Statements on an unarmed connection (ingest, maintenance, integrity checks)
//! are never interrupted.

use libsqlite3_sys as ffi;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};
use std::time::Instant;

/// Virtual-machine steps between two looks at the clock: a few microseconds of work, so a
/// deadline is kept to well under a millisecond and an unarmed connection pays one atomic
/// load per step batch.
const STEPS_BETWEEN_CHECKS: c_int = 4096;

/// The SQLite result code of a statement stopped by its deadline.
pub(super) const INTERRUPTED: i64 = ffi::SQLITE_INTERRUPT as i64;

/// Makes every SQLite connection opened from now on carry the deadline machinery. Runs once
/// per process, before the first connection.
pub(super) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: `on_open` has the entry-point signature SQLite calls with a valid handle.
        let rc = unsafe { ffi::sqlite3_auto_extension(Some(on_open)) };
        if rc != ffi::SQLITE_OK {
            tracing::error!(rc, "SQLite statements will run without a time bound");
        }
    });
}

/// Nanoseconds since the process's first look, never 0 (0 means "no deadline").
fn now_nanos() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// One connection's deadline in [`now_nanos`] time; 0 when unarmed. Owned by the
/// connection's `watchpost_deadline` function, freed by SQLite when the connection closes.
type Deadline = AtomicU64;

unsafe extern "C" fn on_open(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    let deadline = Box::into_raw(Box::new(Deadline::new(0))).cast::<c_void>();
    // SAFETY: `db` is the connection being opened; `deadline` lives until SQLite calls
    // `free_deadline` (when the connection closes, or at once if registration fails).
    unsafe {
        let rc = ffi::sqlite3_create_function_v2(
            db,
            c"watchpost_deadline".as_ptr(),
            1,
            // DIRECTONLY: a view, trigger or stored expression cannot call it.
            ffi::SQLITE_UTF8 | ffi::SQLITE_DIRECTONLY,
            deadline,
            Some(arm),
            None,
            None,
            Some(free_deadline),
        );
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        ffi::sqlite3_progress_handler(db, STEPS_BETWEEN_CHECKS, Some(past_deadline), deadline);
    }
    ffi::SQLITE_OK
}

/// `watchpost_deadline(ms)`: statements on this connection stop `ms` milliseconds from now;
/// 0 or less disarms.
unsafe extern "C" fn arm(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes `argc` valid values and the user data given at registration.
    unsafe {
        let deadline = &*ffi::sqlite3_user_data(ctx).cast::<Deadline>();
        let ms = if argc == 1 {
            ffi::sqlite3_value_int64(*argv)
        } else {
            0
        };
        let at = match u64::try_from(ms) {
            Ok(ms) if ms > 0 => now_nanos().saturating_add(ms.saturating_mul(1_000_000)),
            _ => 0,
        };
        deadline.store(at, Ordering::Relaxed);
        ffi::sqlite3_result_null(ctx);
    }
}

/// The progress handler: non-zero interrupts the running statement.
unsafe extern "C" fn past_deadline(deadline: *mut c_void) -> c_int {
    // SAFETY: the pointer registered with the handler, alive as long as the connection.
    let at = unsafe { &*deadline.cast::<Deadline>() }.load(Ordering::Relaxed);
    c_int::from(at != 0 && now_nanos() > at)
}

unsafe extern "C" fn free_deadline(deadline: *mut c_void) {
    // SAFETY: the box leaked in `on_open`; SQLite calls this exactly once.
    drop(unsafe { Box::from_raw(deadline.cast::<Deadline>()) });
}
