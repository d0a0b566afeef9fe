//! Plan documents: `GET /v1/plans/{id}` answered from a stored copy of its JSON while the
//! copy is current. A document keeps the seq of the plan's last event when it was made; every
//! change under a plan appends an event with the plan's id, so a document whose seq is still
//! the plan's last event is what a full read would answer, byte for byte. Checking that and
//! fetching the copy is one statement; only a plan changed since it was last read is read in
//! full (and its new document kept for the next read).

use crate::access::Caller;
use crate::db::{DbConnection, Store};
use crate::error::StoreError;
use crate::plans::authorize_plan;
use crate::rows::PlanRow;
use crate::schema::{events, plan_documents, plans};
use diesel::dsl::max;
use diesel::prelude::*;
use diesel::upsert::excluded;
use planledger_domain::ids::PlanId;
use planledger_domain::permissions::Action;

/// A plan as `GET /v1/plans/{id}` answers it.
pub struct PlanDocument {
    /// The plan's revision and the seq of the last event under it: together, its ETag.
    pub revision: i64,
    pub last_seq: i64,
    /// The plan with its progress, goals and activities, as JSON.
    pub body: String,
}

impl Store {
    /// The plan with its goals and activities, as JSON, and what its ETag is made of.
    pub fn plan_document(&self, caller: &Caller, id: &PlanId) -> Result<PlanDocument, StoreError> {
        // One statement, so one snapshot: the plan, its last event and the kept document.
        let (mut conn, found) = self.on_live_connection(|conn| {
            let last_seq = events::table
                .filter(events::plan_id.eq(id.as_str()))
                .select(max(events::seq))
                .single_value();
            Ok(plans::table
                .left_join(plan_documents::table)
                .filter(plans::id.eq(id.as_str()))
                .select((
                    PlanRow::as_select(),
                    last_seq,
                    (plan_documents::seq, plan_documents::format, plan_documents::body).nullable(),
                ))
                .first::<(PlanRow, Option<i64>, Option<(i64, String, String)>)>(conn)
                .optional()?)
        })?;
        let (row, last_seq, kept) = found.ok_or(StoreError::NotFound("plan"))?;
        let plan = row.into_domain()?;
        authorize_plan(&mut conn, caller, &plan, Action::Read)?;
        drop(conn);
        let last_seq = last_seq.unwrap_or(0);
        let current =
            |(seq, format, _): &(i64, String, String)| *seq == last_seq && format.as_str() == &*self.document_format;
        if let Some((seq, _, body)) = kept.filter(current) {
            return Ok(PlanDocument {
                revision: plan.revision,
                last_seq: seq,
                body,
            });
        }
        let (detail, last_seq) = self.plan_detail(caller, id)?;
        let document = PlanDocument {
            revision: detail.plan.revision,
            last_seq,
            body: serde_json::to_string(&detail)?,
        };
        // A document is a copy: not keeping one only costs the next read a full read.
        if let Some(Err(error)) = self.write_derived(|conn| keep(conn, id, &self.document_format, &document)) {
            tracing::warn!(%error, plan = %id, "could not keep the plan's document");
        }
        Ok(document)
    }
}

/// Keeps the document unless one made at a later event is there already (two reads may race
/// to keep theirs).
fn keep(conn: &mut DbConnection, id: &PlanId, format: &str, document: &PlanDocument) -> Result<(), StoreError> {
    let upsert = diesel::insert_into(plan_documents::table)
        .values((
            plan_documents::plan_id.eq(id.as_str()),
            plan_documents::seq.eq(document.last_seq),
            plan_documents::format.eq(format),
            plan_documents::body.eq(&document.body),
        ))
        .on_conflict(plan_documents::plan_id)
        .do_update()
        .set((
            plan_documents::seq.eq(excluded(plan_documents::seq)),
            plan_documents::format.eq(excluded(plan_documents::format)),
            plan_documents::body.eq(excluded(plan_documents::body)),
        ));
    let upsert =
        diesel::query_dsl::methods::FilterDsl::filter(upsert, plan_documents::seq.le(excluded(plan_documents::seq)));
    match conn {
        DbConnection::Postgres(pg) => upsert.execute(pg)?,
        DbConnection::Sqlite(sqlite) => upsert.execute(sqlite)?,
    };
    Ok(())
}
