//! Papilio's storage layer: every SQL statement of the program lives in this crate.
//!
//! One code path serves SQLite and PostgreSQL through sqlx's `Any` driver; the few places the
//! dialects differ are in [`db`]. Each query is a named function taking a connection (so a
//! caller composes several inside one transaction) or the [`Db`] (for a read).
//!
//! Invariants kept here:
//! - every write runs in one transaction, retried a bounded number of times on a transient
//!   conflict ([`Db::write`]), so nothing is ever half-written;
//! - decimals are stored as `BIGINT` scaled by 10^6 ([`papilio_core::value::SCALE`]);
//! - every change to master data or a document writes an [`audit`] row in the same transaction;
//! - updates carry the version the caller read and fail with [`StoreError::Stale`] if it moved.

pub mod audit;
pub mod bulk;
pub mod company;
pub mod counts;
pub mod db;
pub mod documents;
pub mod engineering;
pub mod error;
pub mod idempotency;
pub mod master;
pub mod sales;
pub mod sales_reports;
pub mod stock;
pub mod stock_analysis;
pub mod stock_seed;
pub mod stock_views;
pub mod users;

pub use db::{Backend, Conn, Db, Scope, TxFuture};
pub use error::StoreError;

/// Every document type the program registers, area by area.
pub fn document_types() -> Vec<documents::DocType> {
    let mut out = stock::document_types();
    out.extend(sales::document_types());
    out.extend(engineering::document_types());
    out
}
