//! Papilio's domain core: the types, rules and catalogues every business area shares.
//!
//! Nothing here does IO. Storage, HTTP and the clock live in other crates and hand plain data
//! in; this crate answers with plain data or a [`DomainError`]. That keeps the rules testable
//! by example and by property, and lets the same rule run in the API, the web pages and the
//! importers.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::as_conversions
    )
)]

pub mod access;
pub mod bom;
pub mod document;
pub mod entities;
pub mod error;
pub mod inventory;
pub mod pricing;
pub mod sales;
pub mod schema;
pub mod value;

pub use error::{DomainError, FieldError};
