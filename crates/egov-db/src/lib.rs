//! The one store layer over SQLite and PostgreSQL.
//!
//! Owns the connection pool, the choice of engine (made at run time from the
//! database URL), per-engine migrations, transactions and the durable job
//! queue. It knows nothing of any subsystem's tables beyond running their
//! migrations; each subsystem's `store` module holds its own SQL.
//!
//! Store code is written once and compiled for both engines with
//! [`with_pool!`] and [`with_tx!`]: the same SQL text is bound and executed
//! against a `SqlitePool` or a `PgPool`. Where the dialects differ, the
//! difference lives in one function that matches on [`Engine`].

pub mod audit;
mod error;
pub mod jobs;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use error::DbError;

/// Migrations for SQLite, embedded in the binary.
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
/// Migrations for PostgreSQL, embedded in the binary.
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The database engines egov runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// Picks the engine from a database URL's scheme.
    pub fn from_url(url: &str) -> Result<Engine, DbError> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme {
            "sqlite" => Ok(Engine::Sqlite),
            "postgres" | "postgresql" => Ok(Engine::Postgres),
            other => Err(DbError::UnsupportedScheme(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// Pool settings that do not belong in the URL.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A connection pool on one of the two engines.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool, WriterLock),
    Postgres(PgPool),
}

/// Queues this process's SQLite write transactions. SQLite has one writer
/// at a time; writers that meet on its lock sleep in the busy handler
/// (milliseconds each), so under load they are queued here instead and
/// each transaction waits only for the one before it.
pub type WriterLock = std::sync::Arc<tokio::sync::Mutex<()>>;

/// An open transaction on one of the two engines.
#[derive(Debug)]
pub enum Tx {
    Sqlite(
        sqlx::Transaction<'static, sqlx::Sqlite>,
        tokio::sync::OwnedMutexGuard<()>,
    ),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs the same body against whichever pool `db` holds.
///
/// The body is compiled once per engine, so it must be valid for both:
/// write SQL both engines accept and bind types both can encode.
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::Db::Sqlite($pool, _) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs the same body against the connection of whichever transaction `tx`
/// holds. Use `&mut *conn` as the executor inside the body.
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite(tx, _) => {
                let $conn = &mut **tx;
                $body
            }
            $crate::Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}

impl Db {
    /// Opens a pool for `url`, creating a SQLite file if it is missing.
    #[tracing::instrument(skip_all, fields(engine))]
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Db, DbError> {
        let engine = Engine::from_url(url)?;
        tracing::Span::current().record("engine", engine.as_str());
        match engine {
            Engine::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(DbError::InvalidUrl)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    // A backstop only: `checkpoint` keeps the WAL short in
                    // the background, so commits seldom copy it themselves.
                    .pragma("wal_autocheckpoint", "16384");
                let pool = SqlitePoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_with(options)
                    .await
                    .map_err(DbError::Connect)?;
                Ok(Db::Sqlite(pool, WriterLock::default()))
            }
            Engine::Postgres => {
                let options = PgConnectOptions::from_str(url).map_err(DbError::InvalidUrl)?;
                let pool = PgPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_with(options)
                    .await
                    .map_err(DbError::Connect)?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    /// Another pool of up to `max_connections` connections to the same
    /// database, made like this one and sharing its SQLite writer queue:
    /// for a task that runs on a runtime of its own (its connections must
    /// be opened there).
    pub async fn sibling(&self, max_connections: u32) -> Result<Db, DbError> {
        Ok(match self {
            Db::Sqlite(pool, writer) => {
                let options = (*pool.connect_options()).clone();
                let sibling = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .connect_with(options)
                    .await
                    .map_err(DbError::Connect)?;
                Db::Sqlite(sibling, std::sync::Arc::clone(writer))
            }
            Db::Postgres(pool) => {
                let options = (*pool.connect_options()).clone();
                let sibling = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .connect_with(options)
                    .await
                    .map_err(DbError::Connect)?;
                Db::Postgres(sibling)
            }
        })
    }

    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite(..) => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
        }
    }

    /// Applies every pending migration of this engine's tree.
    #[tracing::instrument(skip_all)]
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Db::Sqlite(pool, _) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Migrations that this binary knows but the database has not applied.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, DbError> {
        let (migrator, applied): (&sqlx::migrate::Migrator, Vec<i64>) = match self {
            Db::Sqlite(pool, _) => (&SQLITE_MIGRATIONS, applied_versions(pool).await?),
            Db::Postgres(pool) => (&POSTGRES_MIGRATIONS, applied_versions(pool).await?),
        };
        Ok(migrator
            .iter()
            .filter(|migration| !applied.contains(&migration.version))
            .map(|migration| format!("{} {}", migration.version, migration.description))
            .collect())
    }

    /// Checks that the database answers, for `/readyz`.
    pub async fn ping(&self) -> Result<(), DbError> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Begins a write transaction.
    ///
    /// On SQLite the transaction takes the write lock at once
    /// (`BEGIN IMMEDIATE`), after its turn in this process's queue of
    /// writers, so a reader never fails upgrading to a writer half-way
    /// through and writers do not sleep in SQLite's busy handler.
    pub async fn begin(&self) -> Result<Tx, DbError> {
        Ok(match self {
            Db::Sqlite(pool, writer) => {
                let turn = std::sync::Arc::clone(writer).lock_owned().await;
                Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?, turn)
            }
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// SQLite: copies what the write-ahead log holds into the database
    /// file without blocking writers (`wal_checkpoint(PASSIVE)`). A node
    /// calls it every second, so that writers' commits do not run the
    /// checkpoint (and its fsync) themselves. PostgreSQL: nothing to do.
    pub async fn checkpoint(&self) -> Result<(), DbError> {
        if let Db::Sqlite(pool, _) = self {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(pool).await?;
        }
        Ok(())
    }

    /// Closes every connection; waits for those in use.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), DbError> {
        match self {
            Tx::Sqlite(tx, _) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), DbError> {
        match self {
            Tx::Sqlite(tx, _) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }

    /// Lets this transaction's commit return before its log record reaches
    /// the disk (PostgreSQL `synchronous_commit = off`, for this transaction
    /// only). The database stays consistent after a crash; only the last
    /// few milliseconds of such commits can be lost. For high-rate records
    /// whose loss is safe (an issued token then simply does not exist);
    /// never for a citizen's dossier. SQLite in WAL mode with
    /// `synchronous = NORMAL` already commits this way.
    pub async fn defer_flush(&mut self) -> Result<(), DbError> {
        if let Tx::Postgres(tx) = self {
            sqlx::query("SET LOCAL synchronous_commit TO OFF")
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    pub fn engine(&self) -> Engine {
        match self {
            Tx::Sqlite(..) => Engine::Sqlite,
            Tx::Postgres(_) => Engine::Postgres,
        }
    }
}

async fn applied_versions<'e, E, DB>(executor: E) -> Result<Vec<i64>, DbError>
where
    E: sqlx::Executor<'e, Database = DB>,
    DB: sqlx::Database,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    for<'a> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    // A database that was never migrated has no bookkeeping table yet; that
    // means every migration is pending, not an error.
    match sqlx::query_scalar::<_, i64>("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
        .fetch_all(executor)
        .await
    {
        Ok(versions) => Ok(versions),
        Err(sqlx::Error::Database(_)) => Ok(Vec::new()),
        Err(error) => Err(error.into()),
    }
}

/// Milliseconds since the Unix epoch, the portable timestamp of the job
/// queue and other bookkeeping columns (both engines compare integers alike).
pub fn epoch_millis(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis()
}
