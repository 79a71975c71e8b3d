//! Who may call the API: API keys with roles, checked on every route.
//!
//! A key (`wpk_<id>_<secret>`) is shown once when it is made; the store keeps only an
//! HMAC of its secret under a server secret that lives in the data directory, never in
//! the database, so a copy of the database gives nobody a key. Each route needs a role
//! ([`access`]): viewer reads, analyst triages and changes detections' state, admin
//! manages keys. Every state-changing call is recorded with who, what, when and from
//! where ([`middleware`]).

pub mod access;
pub mod keys;
pub mod middleware;
pub mod rate_limit;

pub use access::{Access, Role};
pub use keys::{KeyRing, NewKey};

use std::path::Path;
use watchpost_store::Store;

/// The file the first admin key is written to, in the data directory.
pub const ADMIN_KEY_FILE: &str = "admin-api-key";

/// On a server with authentication on and no admin key yet: makes one, writes it to
/// `admin-api-key` in the data directory (readable by its owner only) and prints it once.
pub async fn ensure_admin_key(
    store: &dyn Store,
    ring: &KeyRing,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let keys = store.list_api_keys().await?;
    if keys.iter().any(|k| k.role == Role::Admin.as_str()) {
        return Ok(());
    }
    let new = ring.issue("admin", Role::Admin, None);
    let file = data_dir.join(ADMIN_KEY_FILE);
    keys::write_private(&file, &format!("{}\n", new.text))?;
    store.insert_api_key(&new.record).await?;
    println!(
        "Watchpost made its first admin API key. It is shown only this once and kept in {} \
         (readable by this user only):\n\n    {}\n\nSend it as `X-API-Key: …` or \
         `Authorization: Bearer …`; make keys for people and tools with `watchpost api-key create`.",
        file.display(),
        new.text
    );
    tracing::info!(file = %file.display(), key = %new.record.id, "created the first admin API key");
    Ok(())
}
