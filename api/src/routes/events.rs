//! `/v1/events`: the feed (pages, long-poll, CloudEvents, Server-Sent Events)
//! and its verification.

use crate::auth::Auth;
use crate::error::{ApiError, ListProblems, ReadProblems};
use crate::extract::parse_limit;
use crate::notifier::RECHECK;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use planledger_domain::events::{Event, EventType, LogVerification};
use planledger_domain::ids::OrganizationId;
use planledger_persistence::{Caller, EventFilter, EventPage};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;
use utoipa::{IntoParams, ToSchema};

/// The longest a long-poll may wait.
const MAX_WAIT_SECONDS: u64 = 60;
/// How often an idle SSE stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
const CLOUDEVENTS_BATCH: &str = "application/cloudevents-batch+json";

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
        Ok((
            parse_after(self.after.as_deref())?,
            parse_limit(self.limit.as_deref(), 100, 1000)?,
        ))
    }
}

fn parse_after(text: Option<&str>) -> Result<i64, ApiError> {
    match text {
        None => Ok(0),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(after) if after >= 0 => Ok(after),
            _ => Err(ApiError::bad_request(format!(
                "after must be a seq (a whole number from 0), got {text:?}"
            ))),
        },
    }
}

/// An event type, `<entity>.<action>`: every one the log writes.
pub struct EventTypeName;

impl utoipa::PartialSchema for EventTypeName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("An event type, `<entity>.<action>`."))
            .enum_values(Some(EventType::all().iter().map(ToString::to_string)))
            .into()
    }
}

impl ToSchema for EventTypeName {}

/// One frame of `GET /v1/events/stream` as an SSE client reads it (the `retry:` and keep-alive
/// frames carry no data and are not events): `id` is the seq, `event` the type, `data` the event
/// as JSON.
pub struct EventFrame;

impl utoipa::PartialSchema for EventFrame {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::Ref;
        let mut data = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("The event as `GET /v1/events` shows it, as JSON."))
            .content_media_type("application/json")
            .build();
        // JSON Schema 2020-12 `contentSchema`, which utoipa has no builder for: the schema of the decoded `data`.
        let content_schema = serde_json::to_value(Ref::from_schema_name("Event")).unwrap_or_default();
        data.extensions
            .get_or_insert_with(Default::default)
            .insert("contentSchema".to_owned(), content_schema);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A Server-Sent Event: `id:` the seq, `event:` the type, `data:` the event as JSON.",
            ))
            .property(
                "id",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The event's seq; send it back as `Last-Event-ID` to resume."))
                    .pattern(Some("^[0-9]+$")),
            )
            .property("event", EventTypeName::schema())
            .property("data", data)
            .required("event")
            .required("data")
            .into()
    }
}

impl ToSchema for EventFrame {}

/// Which events: by type and organization.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Event types, comma-separated, e.g. `plan.status_changed,goal.status_changed`.
    #[param(value_type = Option<Vec<EventTypeName>>, inline, style = Form, explode = false)]
    pub types: Option<String>,
    /// Only events of this organization.
    #[param(format = "uuid")]
    pub organization_id: Option<String>,
}

impl EventQuery {
    fn filter(&self, after: i64, limit: i64) -> Result<EventFilter, ApiError> {
        let types = self
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
        let organization_id = self
            .organization_id
            .as_deref()
            .map(|id| {
                OrganizationId::parse(id)
                    .ok_or_else(|| ApiError::bad_request("organization_id must be an organization id"))
            })
            .transpose()?;
        Ok(EventFilter {
            after,
            limit,
            types,
            organization_id,
            ..EventFilter::default()
        })
    }
}

/// `wait`: how long to hold a request that finds no new event.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Seconds (0 to 60) to wait for an event after `after` when there is none yet: the answer
    /// comes as soon as one commits, or empty at the deadline.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 60)]
    pub wait: Option<String>,
}

impl WaitQuery {
    fn duration(&self) -> Result<Duration, ApiError> {
        match self.wait.as_deref() {
            None => Ok(Duration::ZERO),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(seconds) if seconds <= MAX_WAIT_SECONDS => Ok(Duration::from_secs(seconds)),
                _ => Err(ApiError::bad_request(format!(
                    "wait must be whole seconds from 0 to 60, got {text:?}"
                ))),
            },
        }
    }
}

/// Reads a page; when it is empty, waits until an event commits or `wait` runs out.
async fn page_after_waiting(
    state: &web::Data<AppState>,
    caller: Caller,
    filter: EventFilter,
    wait: Duration,
) -> Result<EventPage, ApiError> {
    let deadline = Instant::now() + wait;
    // Subscribed before the first read, so a commit between the read and the wait is not missed.
    let mut commits = state.notifier.subscribe();
    loop {
        let (caller, filter_now) = (caller.clone(), filter.clone());
        let page = state.run(move |store| store.event_feed(&caller, filter_now)).await?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if !page.events.is_empty() || remaining.is_zero() {
            return Ok(page);
        }
        // A timeout here only means: read again (a wake-up may have been lost), then wait on.
        let _ = tokio::time::timeout(remaining.min(RECHECK), commits.changed()).await;
    }
}

/// The event log, oldest first, as the token's scope may see it; with `wait`, a long-poll;
/// with `Accept: application/cloudevents-batch+json`, as a CloudEvents 1.0 batch.
#[utoipa::path(
    operation_id = "list_events",
    tag = "events",
    params(LogPageQuery, EventQuery, WaitQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events (or a CloudEvents batch, with the next `after` in `Planledger-Next-After`)",
         content((EventList = "application/json"), (Vec<CloudEvent> = "application/cloudevents-batch+json"))),
        ListProblems,
    )
)]
#[get("/v1/events")]
pub async fn list(
    state: web::Data<AppState>,
    request: HttpRequest,
    auth: Auth,
    page: web::Query<LogPageQuery>,
    query: web::Query<EventQuery>,
    wait: web::Query<WaitQuery>,
) -> Result<HttpResponse, ApiError> {
    let (after, limit) = page.bounds()?;
    let filter = query.filter(after, limit)?;
    let page = page_after_waiting(&state, state.caller(auth), filter, wait.duration()?).await?;
    let accepts_batch = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(CLOUDEVENTS_BATCH));
    if accepts_batch {
        let batch: Vec<CloudEvent> = page.events.into_iter().map(CloudEvent::from).collect();
        return Ok(HttpResponse::Ok()
            .content_type(CLOUDEVENTS_BATCH)
            .insert_header(("Planledger-Next-After", page.next_after.to_string()))
            .json(batch));
    }
    Ok(HttpResponse::Ok().json(EventList::from(page)))
}

/// An event in the CloudEvents 1.0 structured form.
#[derive(Debug, Serialize, ToSchema)]
pub struct CloudEvent {
    #[schema(example = "1.0")]
    pub specversion: &'static str,
    /// The event's id.
    pub id: String,
    /// Where the event comes from: this service's event log.
    #[schema(example = "/v1/events")]
    pub source: &'static str,
    /// The event type, as in the log: `plan.status_changed`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub time: String,
    /// `<entity>/<id>` of what the event is about.
    pub subject: String,
    /// The seq, zero-padded to 20 digits so that it sorts as text.
    pub sequence: String,
    #[schema(example = "application/json")]
    pub datacontenttype: &'static str,
    /// The event as `GET /v1/events` shows it.
    pub data: Event,
}

impl From<Event> for CloudEvent {
    fn from(event: Event) -> Self {
        Self {
            specversion: "1.0",
            id: event.id.to_string(),
            source: "/v1/events",
            event_type: event.event_type.clone(),
            time: event.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            subject: format!("{}/{}", event.subject.entity.as_str(), event.subject.id),
            sequence: format!("{:020}", event.seq),
            datacontenttype: "application/json",
            data: event,
        }
    }
}

/// Where a stream starts: `Last-Event-ID` (a reconnecting client) or `after`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Events after this seq; a `Last-Event-ID` header takes precedence.
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
}

struct Stream {
    state: web::Data<AppState>,
    caller: Caller,
    filter: EventFilter,
    pending: VecDeque<Event>,
    commits: tokio::sync::watch::Receiver<u64>,
    started: bool,
}

impl Stream {
    /// The next frame: an event, a keep-alive comment, or the end on an error.
    async fn next_frame(mut self) -> Option<(Result<Bytes, actix_web::Error>, Self)> {
        if !self.started {
            self.started = true;
            return Some((Ok(Bytes::from_static(b"retry: 2000\n\n")), self));
        }
        let idle_until = Instant::now() + KEEP_ALIVE;
        loop {
            if let Some(event) = self.pending.pop_front() {
                let data = serde_json::to_string(&event).unwrap_or_default();
                let frame = format!("id: {}\nevent: {}\ndata: {data}\n\n", event.seq, event.event_type);
                return Some((Ok(Bytes::from(frame)), self));
            }
            let (caller, filter) = (self.caller.clone(), self.filter.clone());
            match self.state.run(move |store| store.event_feed(&caller, filter)).await {
                Ok(page) => {
                    self.filter.after = page.next_after;
                    self.pending.extend(page.events);
                }
                Err(error) => {
                    tracing::warn!(%error, "event stream ended");
                    return None;
                }
            }
            if !self.pending.is_empty() {
                continue;
            }
            let remaining = idle_until.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), self));
            }
            let _ = tokio::time::timeout(remaining.min(RECHECK), self.commits.changed()).await;
        }
    }
}

/// The event log as Server-Sent Events (`id:` = seq, `event:` = type, `data:` = the event),
/// resumable with `Last-Event-ID`, with keep-alive comments every 15 seconds.
#[utoipa::path(
    operation_id = "stream_events",
    tag = "events",
    params(StreamQuery, EventQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An endless stream of events; the schema is that of each event frame", body = EventFrame, content_type = "text/event-stream"),
        ListProblems,
    )
)]
#[get("/v1/events/stream")]
pub async fn stream(
    state: web::Data<AppState>,
    request: HttpRequest,
    auth: Auth,
    start: web::Query<StreamQuery>,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let last_event_id = request.headers().get("Last-Event-ID").and_then(|v| v.to_str().ok());
    let after = parse_after(last_event_id.or(start.after.as_deref()))?;
    let filter = query.filter(after, 100)?;
    let caller = state.caller(auth);
    // Refuse a caller without access now, with a problem, rather than in the middle of a stream.
    let (check_caller, check_filter) = (
        caller.clone(),
        EventFilter {
            limit: 1,
            ..filter.clone()
        },
    );
    state
        .run(move |store| store.event_feed(&check_caller, check_filter))
        .await?;
    let stream = Stream {
        commits: state.notifier.subscribe(),
        state: state.clone(),
        caller,
        filter,
        pending: VecDeque::new(),
        started: false,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(futures_util::stream::unfold(stream, Stream::next_frame)))
}

/// Recomputes the hash chain over the whole log and names the first broken seq.
#[utoipa::path(
    operation_id = "verify_events",
    tag = "events",
    security(("bearer" = [])),
    responses((status = 200, description = "The verification", body = LogVerification), ReadProblems)
)]
#[get("/v1/events/verify")]
pub async fn verify(state: web::Data<AppState>, auth: Auth) -> Result<web::Json<LogVerification>, ApiError> {
    let caller = state.caller(auth);
    Ok(web::Json(state.run(move |store| store.verify_log_for(&caller)).await?))
}
