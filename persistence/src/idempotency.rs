//! Idempotency keys (IETF draft "The Idempotency-Key HTTP Header Field"): the
//! first answer to a POST is kept with the request's fingerprint, and a
//! repeat gets it again instead of making a second change.

use crate::db::Store;
use crate::error::StoreError;
use crate::schema::idempotency_keys;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

/// How long an answer is kept.
const KEPT_FOR: Duration = Duration::hours(24);
/// A request still unanswered after this long is taken as lost (its server died),
/// and the key may be used again.
const ABANDONED_AFTER: Duration = Duration::minutes(2);

/// An answer as it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// (name, value) pairs of the headers worth repeating.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What a request with a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key is new: go ahead, then [`Store::finish_idempotent`].
    Proceed,
    /// The same request was answered before: send this again.
    Replay(StoredResponse),
    /// The same key is in use by a request still running.
    InFlight,
    /// The key was used with another request.
    Mismatch,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
struct KeyRow {
    fingerprint: String,
    response_status: Option<i32>,
    response_headers: Option<String>,
    response_body: Option<String>,
    created_at: NaiveDateTime,
}

impl Store {
    /// Claims `key` for `caller`'s request with `fingerprint`.
    pub fn claim_idempotency_key(&self, caller: &str, key: &str, fingerprint: &str) -> Result<KeyClaim, StoreError> {
        self.write(|conn| {
            let now = crate::now().naive_utc();
            diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(now - KEPT_FOR)))
                .execute(conn)?;
            let existing: Option<KeyRow> = idempotency_keys::table
                .find((caller, key))
                .select(KeyRow::as_select())
                .first(conn)
                .optional()?;
            if let Some(row) = existing {
                if row.fingerprint != fingerprint {
                    return Ok(KeyClaim::Mismatch);
                }
                match (row.response_status, row.response_body) {
                    (Some(status), Some(body)) => {
                        let headers = serde_json::from_str(row.response_headers.as_deref().unwrap_or("[]"))?;
                        let status =
                            u16::try_from(status).map_err(|_| StoreError::Corrupt("response status".into()))?;
                        return Ok(KeyClaim::Replay(StoredResponse { status, headers, body }));
                    }
                    _ if now - row.created_at < ABANDONED_AFTER => return Ok(KeyClaim::InFlight),
                    _ => {
                        diesel::delete(idempotency_keys::table.find((caller, key))).execute(conn)?;
                    }
                }
            }
            diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::caller.eq(caller),
                    idempotency_keys::idempotency_key.eq(key),
                    idempotency_keys::fingerprint.eq(fingerprint),
                    idempotency_keys::created_at.eq(now),
                ))
                .execute(conn)?;
            Ok(KeyClaim::Proceed)
        })
    }

    /// Keeps the answer to a claimed key.
    pub fn finish_idempotent(&self, caller: &str, key: &str, response: &StoredResponse) -> Result<(), StoreError> {
        self.write(|conn| {
            diesel::update(idempotency_keys::table.find((caller, key)))
                .set((
                    idempotency_keys::response_status.eq(i32::from(response.status)),
                    idempotency_keys::response_headers.eq(serde_json::to_string(&response.headers)?),
                    idempotency_keys::response_body.eq(&response.body),
                ))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Frees a claimed key whose request failed on the server's side, so it can be retried.
    pub fn release_idempotency_key(&self, caller: &str, key: &str) -> Result<(), StoreError> {
        self.write(|conn| {
            diesel::delete(idempotency_keys::table.find((caller, key))).execute(conn)?;
            Ok(())
        })
    }
}
