//! The event log: the append that every write makes under the locked head
//! row, the feed reader, and the hash-chain verification.
//!
//! `hash` is the lower-case hex SHA-256 of the previous event's `hash`
//! followed by the event's canonical JSON: the event as the API shows it
//! without `hash` and `prev_hash`, object keys sorted by code point at every
//! level, no insignificant white space, strings and numbers as serde_json
//! writes them (UTF-8 kept as is). The first event's `prev_hash` is 64 zeros.

use crate::db::{DbConnection, Store};
use crate::error::StoreError;
use crate::rows::utc;
use crate::schema::{event_log_head, events};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use planledger_domain::events::{Actor, EntityType, Event, EventType, LogVerification, Subject};
use planledger_domain::ids::{EventId, OrganizationId, PlanId};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::cell::RefCell;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
struct EventRow {
    seq: i64,
    id: String,
    event_type: String,
    occurred_at: NaiveDateTime,
    actor_sub: String,
    actor_organization_id: Option<String>,
    subject_type: String,
    subject_id: String,
    organization_id: Option<String>,
    plan_id: Option<String>,
    data: String,
    prev_hash: String,
    hash: String,
}

impl EventRow {
    fn new(event: Event, plan_id: Option<String>) -> EventRow {
        EventRow {
            seq: event.seq,
            id: event.id.to_string(),
            event_type: event.event_type,
            occurred_at: event.occurred_at.naive_utc(),
            actor_sub: event.actor.sub,
            actor_organization_id: event.actor.organization_id.map(OrganizationId::into_string),
            subject_type: event.subject.entity.as_str().to_owned(),
            subject_id: event.subject.id,
            organization_id: event.organization_id.map(OrganizationId::into_string),
            plan_id,
            data: event.data.get().to_owned(),
            prev_hash: event.prev_hash,
            hash: event.hash,
        }
    }

    fn into_domain(self) -> Result<Event, StoreError> {
        let entity = EntityType::parse(&self.subject_type)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown subject type {:?}", self.subject_type)))?;
        Ok(Event {
            seq: self.seq,
            id: EventId::from_stored(self.id),
            event_type: self.event_type,
            occurred_at: utc(self.occurred_at),
            actor: Actor {
                sub: self.actor_sub,
                organization_id: self.actor_organization_id.map(OrganizationId::from_stored),
            },
            subject: Subject {
                entity,
                id: self.subject_id,
            },
            organization_id: self.organization_id.map(OrganizationId::from_stored),
            data: serde_json::value::RawValue::from_string(self.data)?,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Writes `value` as canonical JSON: keys sorted at every level, no white space.
pub fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (index, (key, value)) in entries.into_iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(value, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// The hash an event must carry, given its `prev_hash`.
pub fn event_hash(event: &Event) -> Result<String, StoreError> {
    let mut value = serde_json::to_value(event)?;
    if let Value::Object(map) = &mut value {
        map.remove("hash");
        map.remove("prev_hash");
    }
    let mut hasher = Sha256::new();
    hasher.update(event.prev_hash.as_bytes());
    hasher.update(canonical_json(&value).as_bytes());
    Ok(hex::encode(hasher.finalize()))
}

/// The log as this thread's write transaction has it: the events appended so far, written
/// together just before the commit, in the same transaction (a write that appends many events,
/// an import or a follow-up approval, makes one multi-row insert and one head update), and the
/// head once the transaction holds it. A write holds the head from its start (SQLite: `BEGIN
/// IMMEDIATE`; PostgreSQL: the head row's lock), and its events are chained as they are
/// appended; or, on PostgreSQL, takes it only at the flush, right before its commit, and its
/// events are chained then.
struct PendingLog {
    head: Option<(i64, String)>,
    events: Vec<(Event, Option<String>)>,
}

thread_local! {
    /// `Some` while a write transaction runs on this thread (diesel is synchronous: a
    /// transaction starts, runs and ends on one thread).
    static WRITE_LOG: RefCell<Option<PendingLog>> = const { RefCell::new(None) };
}

/// This thread's write transaction's log, from its start until dropped (commit or not).
pub(crate) struct WriteLog {
    previous: Option<PendingLog>,
}

/// Reads the log head; on PostgreSQL locks its row until the transaction ends.
pub(crate) fn lock_head(conn: &mut DbConnection) -> Result<(i64, String), StoreError> {
    let head = event_log_head::table
        .find(1)
        .select((event_log_head::seq, event_log_head::hash));
    Ok(match conn {
        DbConnection::Postgres(pg) => head.for_update().first(pg)?,
        DbConnection::Sqlite(sqlite) => head.first(sqlite)?,
    })
}

/// Gives `event` the seq and `prev_hash` after `head`, and its hash; it becomes the head.
fn chain(event: &mut Event, head: &mut (i64, String)) -> Result<(), StoreError> {
    event.seq = head.0 + 1;
    event.prev_hash = std::mem::take(&mut head.1);
    event.hash = event_hash(event)?;
    *head = (event.seq, event.hash.clone());
    Ok(())
}

impl WriteLog {
    /// Starts the pending log of a write transaction.
    pub(crate) fn begin() -> WriteLog {
        let pending = PendingLog {
            head: None,
            events: Vec::new(),
        };
        WriteLog {
            previous: WRITE_LOG.with(|log| log.replace(Some(pending))),
        }
    }

    /// The head as the transaction holds it from its start (see [`lock_head`]).
    pub(crate) fn start_at(&self, head: (i64, String)) {
        WRITE_LOG.with(|log| {
            if let Some(pending) = log.borrow_mut().as_mut() {
                pending.head = Some(head);
            }
        });
    }

    /// Inserts the appended events and returns the statement that moves the head row to the
    /// last of them (to run before the commit, in the same transaction), or `None` when
    /// nothing was appended. A write that did not hold the head takes it here, with
    /// [`lock_head`], and its events are chained now. seq is a number and the hash lower-case
    /// hex computed here, so the statement can carry them inline (and go in one batch with
    /// PostgreSQL's NOTIFY and the COMMIT).
    pub(crate) fn flush(&self, conn: &mut DbConnection) -> Result<Option<String>, StoreError> {
        let pending = WRITE_LOG.with(|log| {
            log.borrow_mut()
                .as_mut()
                .map(|pending| (pending.head.clone(), std::mem::take(&mut pending.events)))
        });
        let Some((head, mut events)) = pending else {
            return Ok(None);
        };
        if events.is_empty() {
            return Ok(None);
        }
        let (seq, hash) = match head {
            Some(head) => head,
            None => {
                let mut head = lock_head(conn)?;
                for (event, _) in &mut events {
                    chain(event, &mut head)?;
                }
                head
            }
        };
        if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Corrupt(format!("the log head's hash {hash:?} is not hex")));
        }
        let rows: Vec<EventRow> = events
            .into_iter()
            .map(|(event, plan_id)| EventRow::new(event, plan_id))
            .collect();
        // 13 parameters a row: 1,000 rows stay under both backends' limits.
        for chunk in rows.chunks(1000) {
            match conn {
                DbConnection::Postgres(pg) => diesel::insert_into(events::table).values(chunk).execute(pg)?,
                DbConnection::Sqlite(sqlite) => diesel::insert_into(events::table).values(chunk).execute(sqlite)?,
            };
        }
        Ok(Some(format!(
            "UPDATE event_log_head SET seq = {seq}, hash = '{hash}' WHERE id = 1;"
        )))
    }
}

impl Drop for WriteLog {
    fn drop(&mut self) {
        let previous = self.previous.take();
        WRITE_LOG.with(|log| *log.borrow_mut() = previous);
    }
}

/// The log's last seq as the current transaction sees it, events appended in it included.
/// A write must hold the head from its start to know it.
pub(crate) fn current_head_seq(conn: &mut DbConnection) -> Result<i64, StoreError> {
    let in_write = WRITE_LOG.with(|log| log.borrow().as_ref().map(|p| p.head.as_ref().map(|h| h.0)));
    match in_write {
        Some(Some(seq)) => Ok(seq),
        Some(None) => Err(StoreError::Corrupt(
            "the log head is known only to a write that holds it from its start".into(),
        )),
        None => Ok(event_log_head::table.find(1).select(event_log_head::seq).first(conn)?),
    }
}

/// Appends one event to the write transaction of the change it records. Its seq and hashes
/// are set now when the transaction holds the head, otherwise at the flush (then the
/// returned event has seq 0).
#[allow(clippy::too_many_arguments)]
pub(crate) fn append(
    actor: &Actor,
    now: DateTime<Utc>,
    event_type: EventType,
    subject: Subject,
    organization_id: Option<&OrganizationId>,
    plan_id: Option<&PlanId>,
    data: Value,
) -> Result<Event, StoreError> {
    let mut event = Event {
        seq: 0,
        id: EventId::generate(),
        event_type: event_type.to_string(),
        occurred_at: now,
        actor: actor.clone(),
        subject,
        organization_id: organization_id.cloned(),
        data: serde_json::value::to_raw_value(&data)?,
        prev_hash: String::new(),
        hash: String::new(),
    };
    WRITE_LOG.with(|log| {
        let mut log = log.borrow_mut();
        let pending = log
            .as_mut()
            .ok_or_else(|| StoreError::Corrupt("an event appended outside a write transaction".into()))?;
        if let Some(head) = pending.head.as_mut() {
            chain(&mut event, head)?;
        }
        pending.events.push((event.clone(), plan_id.map(ToString::to_string)));
        Ok(event)
    })
}

/// Which events a page holds.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub after: i64,
    pub limit: i64,
    /// Event types to keep; empty keeps all.
    pub types: Vec<String>,
    /// Only events of this organization.
    pub organization_id: Option<OrganizationId>,
    /// Only events of this plan and what is under it.
    pub plan_id: Option<PlanId>,
    /// The caller's scope: only events of these organizations (`None`: all).
    pub scope: Option<Vec<OrganizationId>>,
}

/// A page of the log.
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Ask again with `after` set to this; it moves past events the filter left out.
    pub next_after: i64,
}

impl Store {
    /// The log's last seq.
    pub fn head_seq(&self) -> Result<i64, StoreError> {
        let mut conn = self.connection()?;
        Ok(event_log_head::table
            .find(1)
            .select(event_log_head::seq)
            .first(&mut *conn)?)
    }

    /// Reads a page of events after `filter.after`, oldest first.
    pub fn events(&self, filter: &EventFilter) -> Result<EventPage, StoreError> {
        self.read(|conn| {
            // Every seq up to the head read here has committed: the head only moves at commit.
            let head: i64 = event_log_head::table.find(1).select(event_log_head::seq).first(conn)?;
            let mut query = events::table
                .filter(events::seq.gt(filter.after))
                .filter(events::seq.le(head))
                .order(events::seq.asc())
                .limit(filter.limit)
                .into_boxed();
            if !filter.types.is_empty() {
                query = query.filter(events::event_type.eq_any(&filter.types));
            }
            if let Some(organization) = &filter.organization_id {
                query = query.filter(events::organization_id.eq(organization.as_str()));
            }
            if let Some(plan) = &filter.plan_id {
                query = query.filter(events::plan_id.eq(plan.as_str()));
            }
            if let Some(scope) = &filter.scope {
                let scope: Vec<&str> = scope.iter().map(OrganizationId::as_str).collect();
                query = query.filter(events::organization_id.eq_any(scope));
            }
            let rows: Vec<EventRow> = query.select(EventRow::as_select()).load(conn)?;
            let full_page = rows.len() as i64 == filter.limit;
            let events = rows
                .into_iter()
                .map(EventRow::into_domain)
                .collect::<Result<Vec<_>, _>>()?;
            let next_after = match events.last() {
                Some(last) if full_page => last.seq,
                _ => head.max(filter.after),
            };
            Ok(EventPage { events, next_after })
        })
    }

    /// Recomputes the hash chain over the whole log.
    pub fn verify_log(&self) -> Result<LogVerification, StoreError> {
        const CHUNK: i64 = 4000;
        let mut conn = self.connection()?;
        let head: i64 = event_log_head::table
            .find(1)
            .select(event_log_head::seq)
            .first(&mut *conn)?;
        let mut expected_prev = GENESIS_HASH.to_owned();
        let mut expected_seq = 1;
        let mut checked = 0;
        while expected_seq <= head {
            let rows: Vec<EventRow> = events::table
                .filter(events::seq.ge(expected_seq))
                .filter(events::seq.le(head))
                .order(events::seq.asc())
                .limit(CHUNK)
                .select(EventRow::as_select())
                .load(&mut *conn)?;
            if rows.is_empty() {
                return Ok(LogVerification::broken(checked, head, expected_seq));
            }
            // A row that does not read as an event is broken like one whose hash does not hold.
            let events: Vec<(i64, Option<Event>)> =
                rows.into_iter().map(|row| (row.seq, row.into_domain().ok())).collect();
            let own_hashes_hold = own_hashes_hold(&events);
            for ((seq, event), own_hash_holds) in events.into_iter().zip(own_hashes_hold) {
                if seq != expected_seq {
                    return Ok(LogVerification::broken(checked, head, expected_seq));
                }
                let Some(event) = event.filter(|event| own_hash_holds && event.prev_hash == expected_prev) else {
                    return Ok(LogVerification::broken(checked, head, seq));
                };
                expected_prev = event.hash;
                expected_seq += 1;
                checked += 1;
            }
        }
        Ok(LogVerification::intact(checked, head))
    }
}

/// For each event, whether its hash is the one recomputed from its own content and
/// `prev_hash`. Each event's check stands alone, so they are split across the cores; how the
/// events link up is checked in order by the caller.
fn own_hashes_hold(events: &[(i64, Option<Event>)]) -> Vec<bool> {
    let holds = |(_, event): &(i64, Option<Event>)| {
        event
            .as_ref()
            .is_some_and(|event| event_hash(event).is_ok_and(|hash| hash == event.hash))
    };
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let part = events.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = events
            .chunks(part)
            .map(|part| scope.spawn(move || part.iter().map(holds).collect::<Vec<bool>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

impl Store {
    /// A page of the feed as the caller may see it: the events of the organizations in its scope.
    pub fn event_feed(&self, caller: &crate::Caller, filter: EventFilter) -> Result<EventPage, StoreError> {
        let scope = self.feed_scope(caller)?;
        self.events(&EventFilter { scope, ..filter })
    }

    /// Recomputes the chain for a caller with any role.
    pub fn verify_log_for(&self, caller: &crate::Caller) -> Result<LogVerification, StoreError> {
        self.feed_scope(caller)?;
        self.verify_log()
    }

    fn feed_scope(&self, caller: &crate::Caller) -> Result<Option<Vec<OrganizationId>>, StoreError> {
        use planledger_domain::permissions::Denial;
        if let crate::Caller::Request { principal, .. } = caller {
            match principal {
                None => return Err(StoreError::Denied(Denial::Unauthenticated)),
                Some(principal) if principal.roles.is_empty() => return Err(StoreError::Denied(Denial::Forbidden)),
                Some(_) => {}
            }
        }
        let mut conn = self.connection()?;
        Ok(match crate::access::list_scope(&mut conn, caller)? {
            crate::access::ListScope::Everything => None,
            crate::access::ListScope::Limited { organizations, .. } => {
                Some(organizations.into_iter().map(OrganizationId::from_stored).collect())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level_and_keeps_utf8() {
        let value = json!({"b": 1, "a": {"ö": "Jämtland", "c": [3, {"z": null, "y": true}]}});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":[3,{"y":true,"z":null}],"ö":"Jämtland"},"b":1}"#
        );
    }
}
