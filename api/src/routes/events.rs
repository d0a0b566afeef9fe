//! `/v1/events`: the feed and its verification.

use crate::auth::Auth;
use crate::error::{ApiError, ListProblems, ReadProblems};
use crate::extract::parse_limit;
use crate::state::AppState;
use actix_web::{get, web};
use planledger_domain::events::{Event, EventType, LogVerification};
use planledger_domain::ids::OrganizationId;
use planledger_persistence::{EventFilter, EventPage};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A page of the event log.
#[derive(Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<Event>,
    /// Ask again with `after` set to this and no event is missed; it moves past events the filters left out.
    pub next_after: i64,
}

impl From<EventPage> for EventList {
    fn from(page: EventPage) -> Self {
        Self {
            events: page.events,
            next_after: page.next_after,
        }
    }
}

/// `after` and `limit` of a page of the log, here and in a plan's history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogPageQuery {
    /// Events after this seq (default 0, the start).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
    /// Events per page, 1 to 1000 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

impl LogPageQuery {
    /// (after, limit), checked.
    pub fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let after = match self.after.as_deref() {
            None | Some("") => 0,
            Some(text) => match text.parse::<i64>() {
                Ok(after) if after >= 0 => after,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "after must be a seq (a whole number from 0), got {text:?}"
                    )))
                }
            },
        };
        Ok((after, parse_limit(self.limit.as_deref(), 100, 1000)?))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Comma-separated event types, e.g. `plan.status_changed,goal.status_changed`.
    pub types: Option<String>,
    /// Only events of this organization.
    #[param(format = "uuid")]
    pub organization_id: Option<String>,
}

/// The event log, oldest first, as the token's scope may see it.
#[utoipa::path(
    tag = "events",
    params(LogPageQuery, EventQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of events", body = EventList), ListProblems)
)]
#[get("/v1/events")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    page: web::Query<LogPageQuery>,
    query: web::Query<EventQuery>,
) -> Result<web::Json<EventList>, ApiError> {
    let (after, limit) = page.bounds()?;
    let query = query.into_inner();
    let types = query
        .types
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            EventType::parse(t)
                .map(|t| t.to_string())
                .ok_or_else(|| ApiError::bad_request(format!("unknown event type {t:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let organization_id = query
        .organization_id
        .as_deref()
        .map(|id| {
            OrganizationId::parse(id).ok_or_else(|| ApiError::bad_request("organization_id must be an organization id"))
        })
        .transpose()?;
    let filter = EventFilter {
        after,
        limit,
        types,
        organization_id,
        ..EventFilter::default()
    };
    let caller = state.caller(auth);
    Ok(web::Json(
        state.run(move |store| store.event_feed(&caller, filter)).await?.into(),
    ))
}

/// Recomputes the hash chain over the whole log and names the first broken seq.
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    responses((status = 200, description = "The verification", body = LogVerification), ReadProblems)
)]
#[get("/v1/events/verify")]
pub async fn verify(state: web::Data<AppState>, auth: Auth) -> Result<web::Json<LogVerification>, ApiError> {
    let caller = state.caller(auth);
    Ok(web::Json(state.run(move |store| store.verify_log_for(&caller)).await?))
}
