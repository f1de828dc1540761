//! What can go wrong in storage, named so the web layer can answer with the right status.

use papilio_core::DomainError;

/// A storage failure or a business rule broken at write time.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A business rule refused the input; nothing was changed.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// No such row.
    #[error("{entity} {key} not found")]
    NotFound {
        /// Entity or document type.
        entity: String,
        /// The id or code asked for.
        key: String,
    },
    /// The row changed since the caller read it (optimistic locking).
    #[error("{entity} {key} was changed by someone else")]
    Stale {
        /// Entity or document type.
        entity: String,
        /// The id or code.
        key: String,
    },
    /// A unique key is taken.
    #[error("{entity} with these {fields:?} already exists")]
    Duplicate {
        /// Entity.
        entity: String,
        /// The fields that must be unique together.
        fields: Vec<String>,
    },
    /// The row is referred to by others and cannot be deleted.
    #[error("{entity} {key} is in use")]
    InUse {
        /// Entity.
        entity: String,
        /// The id or code.
        key: String,
    },
    /// Transient conflicts (SQLite busy, PostgreSQL serialization or deadlock) outlasted the
    /// retries.
    #[error("the database stayed busy; try again")]
    Busy,
    /// Some other database failure: a bug or an outage.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Stored data could not be read back (a bug or a hand-edited database).
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether retrying the whole transaction may succeed.
    pub fn is_transient(&self) -> bool {
        let StoreError::Db(sqlx::Error::Database(e)) = self else {
            return false;
        };
        let code = e.code();
        let code = code.as_deref().unwrap_or("");
        // SQLite: BUSY (5) and its extended codes, LOCKED (6). PostgreSQL: serialization
        // failure and deadlock.
        matches!(code, "5" | "6" | "261" | "517" | "262" | "40001" | "40P01")
            || e.message().contains("database is locked")
    }

    /// The unique-constraint violation, if this is one.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Db(sqlx::Error::Database(e))
            if e.kind() == sqlx::error::ErrorKind::UniqueViolation)
    }

    /// The foreign-key violation, if this is one.
    pub fn is_foreign_key_violation(&self) -> bool {
        matches!(self, StoreError::Db(sqlx::Error::Database(e))
            if e.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
    }

    /// Shorthand for a missing row.
    pub fn not_found(entity: &str, key: impl ToString) -> Self {
        StoreError::NotFound { entity: entity.to_owned(), key: key.to_string() }
    }
}
