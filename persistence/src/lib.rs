//! planledger's storage: one diesel code path for SQLite and PostgreSQL, the
//! repositories, and the event-log append that every write makes inside its
//! own transaction. There is no way to change state here without appending
//! the event.

mod access;
mod clients;
mod db;
mod error;
pub mod events;
mod export;
mod follow_ups;
mod idempotency;
mod import;
mod indicators;
mod organizations;
mod pagination;
mod plan_documents;
mod plans;
mod reports;
mod rows;
mod schema;
mod webhooks;
mod work;

pub use access::Caller;
pub use db::{Backend, CommitHook, DbConnection, PoolOptions, Store, EVENTS_CHANNEL};
pub use error::StoreError;
pub use events::{EventFilter, EventPage};
pub use follow_ups::FollowUpFilter;
pub use idempotency::{KeyClaim, StoredResponse};
pub use indicators::{IndicatorFilter, ValueFilter};
pub use organizations::OrganizationFilter;
pub use pagination::{Page, PageRequest};
pub use plan_documents::PlanDocument;
pub use plans::{ActivityFilter, PlanFilter};
pub use reports::ReportSink;
pub use webhooks::{AfterAttempt, AttemptReport, PendingDelivery};

/// The current time as stored: UTC, truncated to microseconds so that both
/// backends give back exactly what was written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
