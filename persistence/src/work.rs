//! A unit of work: one write transaction, who is making it, and when. Every
//! state change goes through [`Work::record`], which appends the event in the
//! same transaction — so a change without its event cannot be written.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::events;
use chrono::{DateTime, Utc};
use planledger_domain::events::{Actor, EntityType, Event, EventAction, EventType, Subject};
use planledger_domain::ids::{OrganizationId, PlanId};
use serde::Serialize;
use serde_json::{json, Value};

pub(crate) struct Work<'c> {
    pub conn: &'c mut DbConnection,
    pub actor: Actor,
    pub now: DateTime<Utc>,
}

/// What an event is about, beyond its type and data.
#[derive(Clone, Copy)]
pub(crate) struct About<'a> {
    pub entity: EntityType,
    pub id: &'a str,
    pub organization_id: Option<&'a OrganizationId>,
    pub plan_id: Option<&'a PlanId>,
}

impl Work<'_> {
    /// Appends one event for a change made in this transaction.
    pub fn record(&mut self, about: About<'_>, action: EventAction, data: Value) -> Result<Event, StoreError> {
        let event_type = EventType::new(about.entity, action);
        let subject = Subject {
            entity: about.entity,
            id: about.id.to_owned(),
        };
        events::append(
            &self.actor,
            self.now,
            event_type,
            subject,
            about.organization_id,
            about.plan_id,
            data,
        )
    }

    /// Appends a PATCH's events: `updated` naming the changed fields, and `status_changed`
    /// when the status moved (`from` the previous status to `to`), each with the snapshot.
    pub fn record_patch(
        &mut self,
        about: About<'_>,
        changes: &[&str],
        status_change: Option<(&str, &str, Option<String>)>,
        snapshot: &impl Serialize,
    ) -> Result<(), StoreError> {
        if !changes.is_empty() {
            self.record(
                about,
                EventAction::Updated,
                json!({ "changes": changes, "snapshot": snapshot }),
            )?;
        }
        if let Some((from, to, reason)) = status_change {
            let data = json!({ "from": from, "to": to, "reason": reason, "snapshot": snapshot });
            self.record(about, EventAction::StatusChanged, data)?;
        }
        Ok(())
    }
}
