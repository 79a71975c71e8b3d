//! Store errors.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("unsupported database URL `{0}`: expected sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
    #[error(
        "the database has schema version {found}, newer than this build knows ({known}); upgrade watchpost"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("could not create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("stored document in {table} row {id} is not valid: {source}")]
    CorruptRow {
        table: &'static str,
        id: String,
        source: serde_json::Error,
    },
    #[error("could not serialise a document: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// A write that carried this caller's rows with others' failed (group commit).
    #[error("the shared write failed: {0}")]
    SharedWrite(String),
    /// The store was found damaged; writes are refused until it is repaired.
    #[error("the store is damaged ({0}); writes are refused until it is repaired")]
    Damaged(String),
    /// The database file is too damaged to open.
    #[error(
        "the database {path} is damaged and cannot be opened ({source}); restore it from a backup, or move it aside to start with an empty store"
    )]
    DamagedAtOpen { path: String, source: sqlx::Error },
    /// A record read back does not match the checksum stored with it.
    #[error(
        "{table} row {id} does not match its stored checksum: the record was altered or damaged on disk"
    )]
    ChecksumMismatch { table: &'static str, id: String },
    /// The store cannot take writes now (too little free space, say).
    #[error("the store cannot write: {0}")]
    Unwritable(String),
    /// A search or listing ran past the store's query timeout and was stopped.
    #[error(
        "the query ran longer than {seconds} s and was stopped; narrow it (a shorter time range, a host, rarer words)"
    )]
    QueryTimeout { seconds: u64 },
    /// A query would return more than the store hands out at once.
    #[error("too large: {0}")]
    TooLarge(String),
}
