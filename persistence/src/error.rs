use planledger_domain::permissions::Denial;
use planledger_domain::DomainError;
use thiserror::Error;

/// What a store operation can fail with; the HTTP layer maps each to a problem.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("not permitted")]
    Denied(Denial),
    #[error("the cursor is not one this service gave out")]
    InvalidCursor,
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(diesel::result::Error),
}

impl StoreError {
    /// A validation error on one field.
    pub(crate) fn invalid(field: &str, message: &str) -> Self {
        StoreError::Domain(DomainError::Validation(vec![
            planledger_domain::validation::FieldError::new(field, message),
        ]))
    }

    /// A reference the caller may not follow is, to the caller, an unknown one.
    pub(crate) fn unknown_reference(self, field: &str, message: &str) -> Self {
        match self {
            StoreError::NotFound(_) | StoreError::Denied(_) => StoreError::invalid(field, message),
            other => other,
        }
    }
}

impl From<diesel::result::Error> for StoreError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &error {
            Error::NotFound => StoreError::NotFound("resource"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => StoreError::Domain(
                DomainError::Conflict(format!("a conflicting resource exists ({})", info.message())),
            ),
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            // SQLite answers a write lock held past busy_timeout with "database is locked";
            // PostgreSQL cancels a statement (or a wait for a lock) past statement_timeout, and
            // ends one of two writes that wait for each other's rows: each worth a retry.
            Error::DatabaseError(_, info)
                if ["database is locked", "statement timeout", "deadlock detected"]
                    .iter()
                    .any(|cause| info.message().contains(cause)) =>
            {
                StoreError::Unavailable(info.message().to_owned())
            }
            _ => StoreError::Database(error),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        StoreError::Corrupt(error.to_string())
    }
}
