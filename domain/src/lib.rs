//! planledger's rules, free of I/O: the entities and their ids, the status
//! machines, validation, who may do what, and the event types every change
//! appends. Both the HTTP layer and the import go through these functions, so
//! a rule lives here once.

pub mod activity;
pub mod client;
pub mod error;
pub mod events;
pub mod follow_up;
pub mod goal;
pub mod ids;
pub mod import;
pub mod indicator;
pub mod organization;
pub mod patch;
pub mod permissions;
pub mod plan;
pub mod progress;
pub mod report;
pub mod status;
pub mod validation;
pub mod webhook;

pub use error::DomainError;
