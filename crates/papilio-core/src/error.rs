//! Errors named after the business rule they enforce.
//!
//! Every variant has a stable snake_case [`DomainError::code`]; the message catalogue in the web
//! layer holds its text in Chinese and English, so the domain never formats prose for users.

use std::fmt;

/// One field that broke one rule, e.g. `("code", "required")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as the API and forms spell it.
    pub field: String,
    /// The rule's stable code, a key of the message catalogue (`field.required`, ...).
    pub rule: String,
    /// Values the message needs (`max` => `64`).
    pub params: Vec<(String, String)>,
}

impl FieldError {
    /// A field error without parameters.
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        FieldError { field: field.into(), rule: rule.into(), params: Vec::new() }
    }

    /// Adds a parameter for the message.
    pub fn with(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.params.push((key.to_owned(), value.to_string()));
        self
    }
}

/// A broken business rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// One or more fields are invalid; nothing was changed.
    #[error("invalid input: {0:?}")]
    Invalid(Vec<FieldError>),
    /// The document's state does not allow the action.
    #[error("{action} is not allowed on a document in state {state}")]
    IllegalTransition {
        /// The current state's code.
        state: &'static str,
        /// The requested action's code.
        action: &'static str,
    },
    /// A push-down asked for more than the source line has open.
    #[error("line {line} has {open} open but {requested} was requested")]
    OverCarry {
        /// The source line number.
        line: i64,
        /// What is still open on it, tolerance included.
        open: String,
        /// What was asked for.
        requested: String,
    },
}

impl DomainError {
    /// The stable code of this error kind.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Invalid(_) => "validation_failed",
            DomainError::IllegalTransition { .. } => "illegal_transition",
            DomainError::OverCarry { .. } => "over_carry",
        }
    }

    /// Shorthand for a single invalid field.
    pub fn field(field: &str, rule: &str) -> Self {
        DomainError::Invalid(vec![FieldError::new(field, rule)])
    }
}
