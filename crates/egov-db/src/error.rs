//! Errors of the store layer.

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL scheme `{0}`: use sqlite:// or postgres://")]
    UnsupportedScheme(String),
    #[error("invalid database URL")]
    InvalidUrl(#[source] sqlx::Error),
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed")]
    Query(#[from] sqlx::Error),
    #[error("stored JSON is malformed")]
    Json(#[from] serde_json::Error),
    /// A component that writes on the caller's behalf could not.
    #[error("{0}")]
    Unavailable(String),
}

impl DbError {
    /// Whether the error is a unique-constraint violation on either engine.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Query(sqlx::Error::Database(error)) => error.is_unique_violation(),
            _ => false,
        }
    }
}
