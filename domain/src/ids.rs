//! Ids are server-generated UUIDs, carried as strings in newtypes so that a
//! plan id cannot be passed where a goal id is meant.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = "uuid"))]
        #[serde(transparent)]
        pub struct $name(String);

        /// Only a UUID is an id: any other text in a body is refused where it is read.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text)
                    .ok_or_else(|| serde::de::Error::custom(format!("must be an id (a UUID), got {text:?}")))
            }
        }

        impl $name {
            /// A new time-ordered id (UUIDv7), so ids sort by creation.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// Parses an id from text; `None` unless it is a UUID.
            pub fn parse(text: &str) -> Option<Self> {
                uuid::Uuid::parse_str(text).ok().map(|uuid| Self(uuid.hyphenated().to_string()))
            }

            /// Wraps an id read back from storage, which only ever holds ids this type wrote.
            pub fn from_stored(text: String) -> Self {
                Self(text)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// Id of an organization (region, municipality, network, …).
    OrganizationId
);
id_type!(
    /// Id of an action plan.
    PlanId
);
id_type!(
    /// Id of a goal.
    GoalId
);
id_type!(
    /// Id of an activity.
    ActivityId
);
id_type!(
    /// Id of an event in the log (its position is `seq`).
    EventId
);
id_type!(
    /// Id of an indicator.
    IndicatorId
);

id_type!(
    /// Id of an API client; also its OAuth `client_id`.
    ClientId
);

id_type!(
    /// Id of a follow-up report.
    FollowUpId
);
id_type!(
    /// Id of a webhook subscription.
    WebhookId
);

impl OrganizationId {
    /// The root organization (Sverige) that the first migration creates.
    pub fn root() -> Self {
        Self(ROOT_ORGANIZATION_ID.to_owned())
    }

    pub fn is_root(&self) -> bool {
        self.0 == ROOT_ORGANIZATION_ID
    }
}

pub const ROOT_ORGANIZATION_ID: &str = "00000000-0000-0000-0000-000000000000";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_uuids_and_normalises_case() {
        let id = PlanId::parse("0190A6B2-0000-7000-8000-000000000001").expect("uuid");
        assert_eq!(id.as_str(), "0190a6b2-0000-7000-8000-000000000001");
    }

    #[test]
    fn parse_rejects_other_text() {
        assert!(PlanId::parse("LS/1300/2014").is_none());
        assert!(PlanId::parse("").is_none());
    }

    #[test]
    fn generated_ids_sort_by_creation() {
        let first = GoalId::generate();
        let second = GoalId::generate();
        assert!(first < second);
    }
}
