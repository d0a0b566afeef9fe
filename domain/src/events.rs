//! The event types every change appends to the log.

use crate::ids::{EventId, OrganizationId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of resource an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntityType {
    Organization,
    Plan,
    Goal,
    Activity,
    Indicator,
    FollowUp,
    ApiClient,
    Webhook,
}

impl EntityType {
    pub const ALL: [EntityType; 8] = [
        Self::Organization,
        Self::Plan,
        Self::Goal,
        Self::Activity,
        Self::Indicator,
        Self::FollowUp,
        Self::ApiClient,
        Self::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Plan => "plan",
            Self::Goal => "goal",
            Self::Activity => "activity",
            Self::Indicator => "indicator",
            Self::FollowUp => "follow_up",
            Self::ApiClient => "api_client",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|entity| entity.as_str() == text)
    }
}

/// What happened to the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventAction {
    Created,
    Updated,
    StatusChanged,
    ValuesImported,
}

impl EventAction {
    pub const ALL: [EventAction; 4] = [Self::Created, Self::Updated, Self::StatusChanged, Self::ValuesImported];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::StatusChanged => "status_changed",
            Self::ValuesImported => "values_imported",
        }
    }
}

/// An event type such as `plan.status_changed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventType {
    pub entity: EntityType,
    pub action: EventAction,
}

impl EventType {
    pub const fn new(entity: EntityType, action: EventAction) -> Self {
        Self { entity, action }
    }

    /// Every event type the log can hold.
    pub fn all() -> Vec<EventType> {
        let mut all: Vec<EventType> = EntityType::ALL
            .into_iter()
            .flat_map(|entity| {
                [EventAction::Created, EventAction::Updated, EventAction::StatusChanged]
                    .into_iter()
                    .map(move |action| EventType::new(entity, action))
            })
            .collect();
        all.push(EventType::new(EntityType::Indicator, EventAction::ValuesImported));
        all
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::all()
            .into_iter()
            .find(|event_type| event_type.to_string() == text)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.entity.as_str(), self.action.as_str())
    }
}

/// Who made the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    /// The token's `sub` (`system` for changes the server makes itself, such as the demo import).
    pub sub: String,
    pub organization_id: Option<OrganizationId>,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            sub: "system".into(),
            organization_id: None,
        }
    }
}

/// What the event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subject {
    #[serde(rename = "type")]
    pub entity: EntityType,
    pub id: String,
}

/// An event as the log holds it and the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Position in the log: gap-free, increasing in commit order.
    pub seq: i64,
    pub id: EventId,
    /// `<entity>.created`, `<entity>.updated`, `<entity>.status_changed` or `indicator.values_imported`.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(example = "plan.status_changed"))]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    pub subject: Subject,
    /// The organization that owns the subject.
    pub organization_id: Option<OrganizationId>,
    /// What changed: `snapshot` (the resource after the change) always; `changes`
    /// (field names) on updates; `from`, `to`, `reason` on status changes.
    // Kept as the JSON text the log stores (keys sorted, as written at the append), so that
    // a page of the feed passes it through instead of building and serializing a tree again.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Box<serde_json::value::RawValue>,
    /// The previous event's `hash` (64 zeros before the first event).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this event's canonical JSON.
    pub hash: String,
}

/// Equal when every field is, `data` compared as the JSON text it is.
impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
            && self.id == other.id
            && self.event_type == other.event_type
            && self.occurred_at == other.occurred_at
            && self.actor == other.actor
            && self.subject == other.subject
            && self.organization_id == other.organization_id
            && self.data.get() == other.data.get()
            && self.prev_hash == other.prev_hash
            && self.hash == other.hash
    }
}

/// The answer of `GET /v1/events/verify` and `planledger verify-log`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogVerification {
    pub ok: bool,
    /// How many events were checked before the first break (all of them when `ok`).
    pub checked: i64,
    pub head_seq: i64,
    /// The first seq whose hash, `prev_hash` or position does not fit the chain.
    pub first_broken_seq: Option<i64>,
}

impl LogVerification {
    pub fn intact(checked: i64, head_seq: i64) -> Self {
        Self {
            ok: true,
            checked,
            head_seq,
            first_broken_seq: None,
        }
    }

    pub fn broken(checked: i64, head_seq: i64, seq: i64) -> Self {
        Self {
            ok: false,
            checked,
            head_seq,
            first_broken_seq: Some(seq),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_read_as_the_contract_writes_them() {
        assert_eq!(
            EventType::new(EntityType::FollowUp, EventAction::StatusChanged).to_string(),
            "follow_up.status_changed"
        );
        assert_eq!(
            EventType::parse("indicator.values_imported"),
            Some(EventType::new(EntityType::Indicator, EventAction::ValuesImported))
        );
        assert_eq!(EventType::parse("plan.deleted"), None);
        assert_eq!(EventType::all().len(), 25);
    }
}
