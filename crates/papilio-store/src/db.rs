//! The connection pool, migrations, write transactions with retry, ids and timestamps.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Executor};

use crate::error::StoreError;

/// A connection inside a transaction.
pub type Conn = AnyConnection;

/// The future a [`Db::write`] body returns.
pub type TxFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>;

/// Ties the transaction's lifetime `'c` to the caller's borrows `'a` (it implies `'a: 'c`), so
/// a [`Db::write`] body may borrow from the caller's stack.
pub type Scope<'c, 'a> = PhantomData<&'c &'a ()>;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite, the default.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The database: a pool and the knowledge of its dialect.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// How often a write transaction is tried when it meets transient conflicts.
const WRITE_ATTEMPTS: u32 = 8;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Db {
    /// Connects to `url` (`sqlite://papilio.db?mode=rwc` or `postgres://...`).
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres") { Backend::Postgres } else { Backend::Sqlite };
        let options: AnyConnectOptions = url.parse()?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?
            }
        };
        Ok(Db { pool, backend })
    }

    /// Applies the embedded migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(|e| StoreError::Db(e.into()))?;
        Ok(())
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs `body` in one write transaction and commits it. A transient conflict (SQLite busy,
    /// PostgreSQL serialization failure or deadlock) rolls back and runs `body` again, up to a
    /// bound; then [`StoreError::Busy`]. Any other error rolls back and is returned.
    pub async fn write<'a, T, F>(&self, mut body: F) -> Result<T, StoreError>
    where
        F: for<'c> FnMut(&'c mut Conn, Scope<'c, 'a>) -> TxFuture<'c, T> + Send + 'a,
        T: Send,
    {
        let begin = match self.backend {
            // Take the write lock up front: a deferred transaction that later upgrades fails
            // with SQLITE_BUSY without waiting.
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result: Result<T, StoreError> = async {
                let mut tx = self.pool.begin_with(begin).await?;
                let value = body(&mut tx, PhantomData).await?;
                tx.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Err(e) if e.is_transient() && attempt < WRITE_ATTEMPTS => {
                    tracing::warn!(attempt, error = %e, "transient conflict, retrying");
                    let backoff = 5 * u64::from(attempt) + u64::from(rand::random::<u8>() % 10);
                    tokio::time::sleep(Duration::from_millis(backoff)).await;
                }
                Err(e) if e.is_transient() => return Err(StoreError::Busy),
                other => return other,
            }
        }
    }
}

/// A new time-ordered 64-bit id: milliseconds since 2020 in the high bits, then 8 bits that
/// tell processes apart, then a 12-bit counter. Ids from one process only grow.
pub fn new_id() -> i64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    static NODE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    const EPOCH_MS: i64 = 1_577_836_800_000;
    let node = *NODE.get_or_init(|| u64::from(rand::random::<u8>()));
    let now = u64::try_from(Utc::now().timestamp_millis() - EPOCH_MS).unwrap_or(0);
    let floor = (now << 20) | (node << 12);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = if prev >= floor { prev + 1 } else { floor };
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return i64::try_from(next).unwrap_or(i64::MAX),
            Err(seen) => prev = seen,
        }
    }
}

/// The current time as fixed-width RFC 3339 UTC text, which sorts as time does.
pub fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}
