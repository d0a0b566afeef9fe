use crate::validation::FieldError;
use thiserror::Error;

/// What a domain rule can refuse. The HTTP layer maps each to one problem type.
#[derive(Debug, Error, PartialEq)]
pub enum DomainError {
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("cannot change status from {from} to {to}")]
    InvalidTransition {
        from: String,
        to: String,
        allowed: Vec<String>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("the resource has changed: revision is {current}")]
    RevisionMismatch { current: i64 },
}
