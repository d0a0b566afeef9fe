//! Indicators and their values: the catalogue, batch upserts of values, the
//! Kolada import and the Öppna jämförelser comparison. Every write appends its
//! event in the same transaction; a batch of values appends one
//! `indicator.values_imported` per indicator it changed.

use crate::access::{self, Caller, ListScope};
use crate::db::{DbConnection, Store};
use crate::error::StoreError;
use crate::organizations::{self, check_revision};
use crate::pagination::{Page, PageRequest};
use crate::rows::{utc, OrganizationRow};
use crate::schema::{indicator_values, indicators, organizations as organizations_table};
use crate::work::{About, Work};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use planledger_domain::events::{EntityType, EventAction};
use planledger_domain::goal::TargetUnit;
use planledger_domain::ids::{IndicatorId, OrganizationId};
use planledger_domain::indicator::{
    self as rules, ComparedOrganization, Comparison, CountyMean, Direction, Gender, Indicator, IndicatorPatch,
    IndicatorSource, IndicatorValue, KoladaData, KoladaIndicatorSummary, KoladaSummary, Mean, NewIndicator, Period,
    SimilarMean, TargetCheck, TrendPoint, UpdateFrequency, ValuesSummary,
};
use planledger_domain::organization::{Organization, OrganizationKind};
use planledger_domain::permissions::{Action, Denial, Role, Visibility};
use planledger_domain::DomainError;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Filters of `GET /v1/indicators`.
#[derive(Debug, Clone, Default)]
pub struct IndicatorFilter {
    pub code: Option<String>,
    pub source: Option<IndicatorSource>,
    pub organization_id: Option<OrganizationId>,
}

/// Filters of `GET /v1/indicators/{id}/values`.
#[derive(Debug, Clone, Default)]
pub struct ValueFilter {
    pub organization_id: Option<OrganizationId>,
    pub period: Option<String>,
    pub gender: Option<Gender>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = indicators, treat_none_as_null = true)]
struct IndicatorRow {
    id: String,
    code: String,
    title: String,
    unit: String,
    direction: String,
    source: String,
    update_frequency: String,
    target: Option<f64>,
    organization_id: String,
    revision: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {value:?}"))
}

impl IndicatorRow {
    fn from_domain(indicator: &Indicator) -> Self {
        Self {
            id: indicator.id.to_string(),
            code: indicator.code.clone(),
            title: indicator.title.clone(),
            unit: indicator.unit.as_str().to_owned(),
            direction: indicator.direction.as_str().to_owned(),
            source: indicator.source.as_str().to_owned(),
            update_frequency: indicator.update_frequency.as_str().to_owned(),
            target: indicator.target,
            organization_id: indicator.organization_id.to_string(),
            revision: indicator.revision,
            created_at: indicator.created_at.naive_utc(),
            updated_at: indicator.updated_at.naive_utc(),
        }
    }

    fn into_domain(self) -> Result<Indicator, StoreError> {
        Ok(Indicator {
            unit: TargetUnit::parse(&self.unit).ok_or_else(|| corrupt("unit", &self.unit))?,
            direction: Direction::parse(&self.direction).ok_or_else(|| corrupt("direction", &self.direction))?,
            source: IndicatorSource::parse(&self.source).ok_or_else(|| corrupt("source", &self.source))?,
            update_frequency: UpdateFrequency::parse(&self.update_frequency)
                .ok_or_else(|| corrupt("update frequency", &self.update_frequency))?,
            id: IndicatorId::from_stored(self.id),
            code: self.code,
            title: self.title,
            target: self.target,
            organization_id: OrganizationId::from_stored(self.organization_id),
            newest_period: None,
            stale: false,
            revision: self.revision,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = indicator_values)]
struct ValueRow {
    indicator_id: String,
    organization_id: String,
    period: String,
    gender: String,
    value: Option<f64>,
    updated_at: NaiveDateTime,
}

impl ValueRow {
    fn into_domain(self) -> Result<IndicatorValue, StoreError> {
        Ok(IndicatorValue {
            gender: Gender::parse(&self.gender).ok_or_else(|| corrupt("gender", &self.gender))?,
            organization_id: OrganizationId::from_stored(self.organization_id),
            period: self.period,
            value: self.value,
        })
    }
}

fn load_bare(conn: &mut DbConnection, id: &IndicatorId) -> Result<Option<Indicator>, StoreError> {
    indicators::table
        .find(id.as_str())
        .select(IndicatorRow::as_select())
        .first(conn)
        .optional()?
        .map(IndicatorRow::into_domain)
        .transpose()
}

fn find_by_code(conn: &mut DbConnection, code: &str) -> Result<Option<Indicator>, StoreError> {
    indicators::table
        .filter(indicators::code.eq(code))
        .select(IndicatorRow::as_select())
        .first(conn)
        .optional()?
        .map(IndicatorRow::into_domain)
        .transpose()
}

/// The newest period with a non-missing value, per indicator.
pub(crate) fn newest_periods(conn: &mut DbConnection, ids: &[String]) -> Result<HashMap<String, String>, StoreError> {
    let pairs: Vec<(String, String)> = indicator_values::table
        .filter(indicator_values::indicator_id.eq_any(ids))
        .filter(indicator_values::value.is_not_null())
        .select((indicator_values::indicator_id, indicator_values::period))
        .distinct()
        .load(conn)?;
    let mut newest: HashMap<String, String> = HashMap::new();
    for (id, period) in pairs {
        let entry = newest.entry(id).or_insert_with(|| period.clone());
        if Period::sort_key(&period) > Period::sort_key(entry) {
            *entry = period;
        }
    }
    Ok(newest)
}

/// Sets `newest_period` and `stale` on indicators read from storage.
fn with_staleness(conn: &mut DbConnection, items: Vec<Indicator>) -> Result<Vec<Indicator>, StoreError> {
    let ids: Vec<String> = items.iter().map(|i| i.id.to_string()).collect();
    let mut newest = newest_periods(conn, &ids)?;
    let now = crate::now();
    Ok(items
        .into_iter()
        .map(|indicator| {
            let period = newest.remove(indicator.id.as_str());
            indicator.with_newest(period, now)
        })
        .collect())
}

fn load(conn: &mut DbConnection, id: &IndicatorId) -> Result<Option<Indicator>, StoreError> {
    match load_bare(conn, id)? {
        Some(indicator) => Ok(with_staleness(conn, vec![indicator])?.pop()),
        None => Ok(None),
    }
}

fn about(indicator: &Indicator) -> About<'_> {
    About {
        entity: EntityType::Indicator,
        id: indicator.id.as_str(),
        organization_id: Some(&indicator.organization_id),
        plan_id: None,
    }
}

fn ensure_code_free(conn: &mut DbConnection, code: &str, own: &IndicatorId) -> Result<(), StoreError> {
    if find_by_code(conn, code)?.is_some_and(|other| &other.id != own) {
        return Err(StoreError::Domain(DomainError::Conflict(format!(
            "another indicator has code {code:?}"
        ))));
    }
    Ok(())
}

/// Indicators and values are public material.
fn authorize_read(conn: &mut DbConnection, caller: &Caller, indicator: &Indicator) -> Result<(), StoreError> {
    let target = access::target(conn, &indicator.organization_id, Visibility::Public)?;
    caller.authorize(Action::Read, &target, "indicator")
}

/// Writing values needs `editor` in the scope of each value's organization.
fn authorize_value_edit(
    conn: &mut DbConnection,
    caller: &Caller,
    organization: &OrganizationId,
) -> Result<(), StoreError> {
    let target = access::target(conn, organization, Visibility::Public)?;
    caller.authorize(Action::Edit, &target, "organization")
}

/// What writing one value did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Changed,
    Unchanged,
}

fn upsert_value(
    conn: &mut DbConnection,
    indicator: &IndicatorId,
    organization: &OrganizationId,
    period: &str,
    gender: Gender,
    value: Option<f64>,
    now: DateTime<Utc>,
) -> Result<Written, StoreError> {
    let key = indicator_values::table.find((indicator.as_str(), organization.as_str(), period, gender.as_str()));
    let existing: Option<Option<f64>> = key.select(indicator_values::value).first(conn).optional()?;
    match existing {
        Some(stored) if stored == value => Ok(Written::Unchanged),
        Some(_) => {
            diesel::update(key)
                .set((
                    indicator_values::value.eq(value),
                    indicator_values::updated_at.eq(now.naive_utc()),
                ))
                .execute(conn)?;
            Ok(Written::Changed)
        }
        None => {
            diesel::insert_into(indicator_values::table)
                .values(ValueRow {
                    indicator_id: indicator.to_string(),
                    organization_id: organization.to_string(),
                    period: period.to_owned(),
                    gender: gender.as_str().to_owned(),
                    value,
                    updated_at: now.naive_utc(),
                })
                .execute(conn)?;
            Ok(Written::Changed)
        }
    }
}

fn remove_value(
    conn: &mut DbConnection,
    indicator: &IndicatorId,
    organization: &OrganizationId,
    period: &str,
    gender: Gender,
) -> Result<bool, StoreError> {
    let removed = diesel::delete(indicator_values::table.find((
        indicator.as_str(),
        organization.as_str(),
        period,
        gender.as_str(),
    )))
    .execute(conn)?;
    Ok(removed > 0)
}

/// What a batch did to one indicator, for its event.
#[derive(Debug, Default)]
struct Tally {
    upserted: usize,
    unchanged: usize,
    missing: usize,
    removed: usize,
    organizations: BTreeSet<String>,
    periods: BTreeSet<String>,
}

impl Tally {
    fn count(&mut self, written: Written, value: Option<f64>, organization: &OrganizationId, period: &str) {
        match written {
            Written::Changed => self.upserted += 1,
            Written::Unchanged => self.unchanged += 1,
        }
        if value.is_none() {
            self.missing += 1;
        }
        self.organizations.insert(organization.to_string());
        self.periods.insert(period.to_owned());
    }

    fn changed(&self) -> bool {
        self.upserted > 0 || self.removed > 0
    }

    fn event_data(&self, source: &str) -> serde_json::Value {
        json!({
            "source": source,
            "upserted": self.upserted,
            "unchanged": self.unchanged,
            "missing": self.missing,
            "removed": self.removed,
            "organization_ids": self.organizations,
            "periods": self.periods,
        })
    }
}

/// The caller must hold `editor` somewhere before any value is looked at.
fn require_editor(caller: &Caller) -> Result<(), StoreError> {
    match caller {
        Caller::System => Ok(()),
        Caller::Request { principal: None, .. } => Err(StoreError::Denied(Denial::Unauthenticated)),
        Caller::Request {
            principal: Some(principal),
            ..
        } if !principal.has(Role::Editor) => Err(StoreError::Denied(Denial::Forbidden)),
        Caller::Request { .. } => Ok(()),
    }
}

/// Maps a Kolada code onto an organization: `0000` is the root, then the code as written, then
/// without its leading zeros.
fn organization_for_kolada(conn: &mut DbConnection, code: &str) -> Result<Option<Organization>, StoreError> {
    if code.trim() == rules::KOLADA_COUNTRY {
        return organizations::load(conn, &OrganizationId::root());
    }
    for candidate in rules::kolada_code_candidates(code) {
        if let Some(organization) = organizations::find_by_code(conn, &candidate)? {
            return Ok(Some(organization));
        }
    }
    Ok(None)
}

fn all_organizations(conn: &mut DbConnection) -> Result<Vec<Organization>, StoreError> {
    organizations_table::table
        .select(OrganizationRow::as_select())
        .load(conn)?
        .into_iter()
        .map(OrganizationRow::into_domain)
        .collect()
}

impl Store {
    /// Creates an indicator (editor in the scope of its organization, the root by default).
    pub fn create_indicator(&self, caller: &Caller, new: NewIndicator) -> Result<Indicator, StoreError> {
        self.write(|conn| {
            let indicator = new.into_indicator(crate::now())?;
            if organizations::load(conn, &indicator.organization_id)?.is_none() {
                return Err(StoreError::invalid("organization_id", "is not a known organization"));
            }
            let target = access::target(conn, &indicator.organization_id, Visibility::Public)?;
            caller
                .authorize(Action::Edit, &target, "organization")
                .map_err(|e| match e {
                    StoreError::NotFound(_) => StoreError::invalid("organization_id", "is not a known organization"),
                    other => other,
                })?;
            ensure_code_free(conn, &indicator.code, &indicator.id)?;
            diesel::insert_into(indicators::table)
                .values(IndicatorRow::from_domain(&indicator))
                .execute(conn)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now: indicator.created_at,
            };
            work.record(
                about(&indicator),
                EventAction::Created,
                json!({ "snapshot": indicator }),
            )?;
            Ok(indicator)
        })
    }

    pub fn indicator(&self, caller: &Caller, id: &IndicatorId) -> Result<Indicator, StoreError> {
        self.read(|conn| {
            let indicator = load(conn, id)?.ok_or(StoreError::NotFound("indicator"))?;
            authorize_read(conn, caller, &indicator)?;
            Ok(indicator)
        })
    }

    pub fn indicators(
        &self,
        caller: &Caller,
        filter: &IndicatorFilter,
        page: &PageRequest,
    ) -> Result<Page<Indicator>, StoreError> {
        self.read(|conn| {
            let mut query = indicators::table
                .order(indicators::id.asc())
                .limit(page.fetch_limit())
                .into_boxed();
            if let ListScope::Limited {
                organizations,
                public: false,
            } = access::list_scope(conn, caller)?
            {
                query = query.filter(indicators::organization_id.eq_any(organizations));
            }
            if let Some(after) = page.after_key()? {
                query = query.filter(indicators::id.gt(after));
            }
            if let Some(code) = &filter.code {
                query = query.filter(indicators::code.eq(code));
            }
            if let Some(source) = filter.source {
                query = query.filter(indicators::source.eq(source.as_str()));
            }
            if let Some(organization) = &filter.organization_id {
                query = query.filter(indicators::organization_id.eq(organization.as_str()));
            }
            let rows: Vec<IndicatorRow> = query.select(IndicatorRow::as_select()).load(conn)?;
            let items = rows
                .into_iter()
                .map(IndicatorRow::into_domain)
                .collect::<Result<Vec<_>, _>>()?;
            let page = page.finish(items, |indicator| indicator.id.to_string());
            Ok(Page {
                items: with_staleness(conn, page.items)?,
                next_cursor: page.next_cursor,
            })
        })
    }

    pub fn update_indicator(
        &self,
        caller: &Caller,
        id: &IndicatorId,
        patch: IndicatorPatch,
        expected_revision: Option<i64>,
    ) -> Result<Indicator, StoreError> {
        self.write(|conn| {
            let mut indicator = load(conn, id)?.ok_or(StoreError::NotFound("indicator"))?;
            let target = access::target(conn, &indicator.organization_id, Visibility::Public)?;
            caller.authorize(Action::Edit, &target, "indicator")?;
            check_revision(indicator.revision, expected_revision)?;
            let changes = indicator.apply_patch(patch)?;
            if changes.is_empty() {
                return Ok(indicator);
            }
            ensure_code_free(conn, &indicator.code, id)?;
            let now = crate::now();
            indicator.revision += 1;
            indicator.updated_at = now;
            indicator = indicator.clone().with_newest(indicator.newest_period.clone(), now);
            diesel::update(indicators::table.find(id.as_str()))
                .set(IndicatorRow::from_domain(&indicator))
                .execute(conn)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now,
            };
            work.record(
                about(&indicator),
                EventAction::Updated,
                json!({ "changes": changes, "snapshot": indicator }),
            )?;
            Ok(indicator)
        })
    }

    /// An indicator's values, ordered by organization, period and gender.
    pub fn indicator_values(
        &self,
        caller: &Caller,
        id: &IndicatorId,
        filter: &ValueFilter,
        page: &PageRequest,
    ) -> Result<Page<IndicatorValue>, StoreError> {
        self.read(|conn| {
            let indicator = load_bare(conn, id)?.ok_or(StoreError::NotFound("indicator"))?;
            authorize_read(conn, caller, &indicator)?;
            let mut query = indicator_values::table
                .filter(indicator_values::indicator_id.eq(id.as_str()))
                .into_boxed();
            if let Some(organization) = &filter.organization_id {
                query = query.filter(indicator_values::organization_id.eq(organization.as_str()));
            }
            if let Some(period) = &filter.period {
                query = query.filter(indicator_values::period.eq(period));
            }
            if let Some(gender) = filter.gender {
                query = query.filter(indicator_values::gender.eq(gender.as_str()));
            }
            let rows: Vec<ValueRow> = query.select(ValueRow::as_select()).load(conn)?;
            let mut values = rows
                .into_iter()
                .map(ValueRow::into_domain)
                .collect::<Result<Vec<_>, _>>()?;
            // The key orders and pages in Rust: an indicator has some thousand values at most.
            let key = |v: &IndicatorValue| format!("{}\u{1}{}\u{1}{}", v.organization_id, v.period, v.gender.as_str());
            values.sort_by_key(key);
            if let Some(after) = page.after_key()? {
                values.retain(|v| key(v) > after);
            }
            values.truncate(page.fetch_limit() as usize);
            Ok(page.finish(values, key))
        })
    }

    /// Upserts a batch of values in one transaction, with one `indicator.values_imported` event.
    pub fn put_indicator_values(
        &self,
        caller: &Caller,
        id: &IndicatorId,
        values: Vec<IndicatorValue>,
    ) -> Result<ValuesSummary, StoreError> {
        rules::validate_values(&values)?;
        self.write(|conn| {
            let indicator = load_bare(conn, id)?.ok_or(StoreError::NotFound("indicator"))?;
            authorize_read(conn, caller, &indicator)?;
            let mut checked: BTreeSet<OrganizationId> = BTreeSet::new();
            for (index, value) in values.iter().enumerate() {
                if checked.contains(&value.organization_id) {
                    continue;
                }
                if organizations::load(conn, &value.organization_id)?.is_none() {
                    return Err(StoreError::invalid(
                        &format!("values[{index}].organization_id"),
                        "is not a known organization",
                    ));
                }
                authorize_value_edit(conn, caller, &value.organization_id).map_err(|e| match e {
                    StoreError::NotFound(_) => StoreError::invalid(
                        &format!("values[{index}].organization_id"),
                        "is not a known organization",
                    ),
                    other => other,
                })?;
                checked.insert(value.organization_id.clone());
            }
            let now = crate::now();
            let mut tally = Tally::default();
            for value in &values {
                let written = upsert_value(
                    conn,
                    id,
                    &value.organization_id,
                    &value.period,
                    value.gender,
                    value.value,
                    now,
                )?;
                tally.count(written, value.value, &value.organization_id, &value.period);
            }
            if tally.changed() {
                let mut work = Work {
                    conn,
                    actor: caller.actor(),
                    now,
                };
                work.record(
                    about(&indicator),
                    EventAction::ValuesImported,
                    tally.event_data("values"),
                )?;
            }
            Ok(ValuesSummary {
                indicator_id: indicator.id.clone(),
                upserted: tally.upserted,
                unchanged: tally.unchanged,
                missing: tally.missing,
                organization_ids: checked.into_iter().collect(),
            })
        })
    }

    /// Imports Kolada's `data` JSON in one transaction: unknown KPIs and unmapped or
    /// out-of-scope codes are reported and skipped, not fatal.
    pub fn import_kolada(&self, caller: &Caller, data: KoladaData) -> Result<KoladaSummary, StoreError> {
        data.validate()?;
        require_editor(caller)?;
        self.write(|conn| {
            let now = crate::now();
            let mut summary = KoladaSummary::default();
            let mut kpis: HashMap<String, Option<Indicator>> = HashMap::new();
            // Per code: the organization, or why it is skipped.
            let mut places: HashMap<String, Result<OrganizationId, bool>> = HashMap::new();
            let mut unknown_kpis = BTreeSet::new();
            let mut unmapped = BTreeSet::new();
            let mut out_of_scope = BTreeSet::new();
            let mut tallies: BTreeMap<String, (Indicator, Tally)> = BTreeMap::new();
            for row in &data.values {
                let kpi = row.kpi.trim().to_owned();
                if !kpis.contains_key(&kpi) {
                    let found = find_by_code(conn, &kpi)?;
                    kpis.insert(kpi.clone(), found);
                }
                let Some(indicator) = kpis.get(&kpi).cloned().flatten() else {
                    unknown_kpis.insert(kpi);
                    summary.skipped += row.values.len();
                    continue;
                };
                let code = row.municipality.trim().to_owned();
                if !places.contains_key(&code) {
                    let place = match organization_for_kolada(conn, &code)? {
                        None => Err(false),
                        Some(organization) => match authorize_value_edit(conn, caller, &organization.id) {
                            Ok(()) => Ok(organization.id),
                            Err(StoreError::NotFound(_) | StoreError::Denied(_)) => Err(true),
                            Err(other) => return Err(other),
                        },
                    };
                    places.insert(code.clone(), place);
                }
                let organization = match &places[&code] {
                    Ok(organization) => organization.clone(),
                    Err(in_directory) => {
                        if *in_directory {
                            out_of_scope.insert(code);
                        } else {
                            unmapped.insert(code);
                        }
                        summary.skipped += row.values.len();
                        continue;
                    }
                };
                let period = row.period.text();
                let (_, tally) = tallies
                    .entry(indicator.id.to_string())
                    .or_insert_with(|| (indicator.clone(), Tally::default()));
                for value in &row.values {
                    let gender = Gender::parse(value.gender.trim()).ok_or_else(|| corrupt("gender", &value.gender))?;
                    if row.isdeleted == Some(true) || value.isdeleted == Some(true) {
                        if remove_value(conn, &indicator.id, &organization, &period, gender)? {
                            tally.removed += 1;
                            tally.organizations.insert(organization.to_string());
                            tally.periods.insert(period.clone());
                        }
                        continue;
                    }
                    let figure = value.figure();
                    let written = upsert_value(conn, &indicator.id, &organization, &period, gender, figure, now)?;
                    tally.count(written, figure, &organization, &period);
                }
            }
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now,
            };
            for (indicator, tally) in tallies.values() {
                if tally.changed() {
                    work.record(
                        about(indicator),
                        EventAction::ValuesImported,
                        tally.event_data("kolada"),
                    )?;
                }
                summary.upserted += tally.upserted;
                summary.unchanged += tally.unchanged;
                summary.missing += tally.missing;
                summary.removed += tally.removed;
                summary.indicators.push(KoladaIndicatorSummary {
                    indicator_id: Some(indicator.id.clone()),
                    code: indicator.code.clone(),
                    upserted: tally.upserted,
                    unchanged: tally.unchanged,
                    missing: tally.missing,
                    removed: tally.removed,
                });
            }
            summary.unknown_kpis = unknown_kpis.into_iter().collect();
            summary.unmapped_codes = unmapped.into_iter().collect();
            summary.out_of_scope_codes = out_of_scope.into_iter().collect();
            Ok(summary)
        })
    }

    /// "How do we stand?": the organization's value (gender T) for the period against the
    /// municipalities of its region, all municipalities, a network of similar ones and the target.
    pub fn indicator_comparison(
        &self,
        caller: &Caller,
        id: &IndicatorId,
        organization_id: &OrganizationId,
        period: &str,
        similar_network_id: Option<&OrganizationId>,
    ) -> Result<Comparison, StoreError> {
        self.read(|conn| {
            let indicator = load_bare(conn, id)?.ok_or(StoreError::NotFound("indicator"))?;
            authorize_read(conn, caller, &indicator)?;
            let all = all_organizations(conn)?;
            let by_id: HashMap<&OrganizationId, &Organization> = all.iter().map(|o| (&o.id, o)).collect();
            let organization = *by_id
                .get(organization_id)
                .ok_or_else(|| StoreError::invalid("organization_id", "is not a known organization"))?;
            let network = match similar_network_id {
                Some(network_id) => match by_id.get(network_id) {
                    Some(network) if network.kind == OrganizationKind::Network => Some(*network),
                    _ => return Err(StoreError::invalid("similar_network_id", "is not a known network")),
                },
                None => None,
            };
            let rows: Vec<(String, Option<f64>)> = indicator_values::table
                .filter(indicator_values::indicator_id.eq(id.as_str()))
                .filter(indicator_values::period.eq(period))
                .filter(indicator_values::gender.eq(Gender::T.as_str()))
                .select((indicator_values::organization_id, indicator_values::value))
                .load(conn)?;
            let figures: HashMap<OrganizationId, f64> = rows
                .into_iter()
                .filter_map(|(org, value)| value.map(|v| (OrganizationId::from_stored(org), v)))
                .collect();
            let figures_of = |members: &mut dyn Iterator<Item = &OrganizationId>| -> Vec<f64> {
                members.filter_map(|member| figures.get(member).copied()).collect()
            };
            let municipalities: Vec<&Organization> = all
                .iter()
                .filter(|o| o.kind == OrganizationKind::Municipality)
                .collect();
            let national = figures_of(&mut municipalities.iter().map(|o| &o.id));
            let own = figures.get(organization_id).copied();
            let rank = match own {
                Some(value) if organization.kind == OrganizationKind::Municipality => {
                    Some(rules::rank(indicator.direction, value, &national))
                }
                _ => None,
            };
            let region = if organization.kind == OrganizationKind::Region {
                Some(organization)
            } else {
                organization
                    .parent_id
                    .as_ref()
                    .and_then(|parent| by_id.get(parent).copied())
                    .filter(|parent| parent.kind == OrganizationKind::Region)
            };
            let county = region.map(|region| {
                let mean = Mean::of(&figures_of(
                    &mut municipalities
                        .iter()
                        .filter(|m| m.parent_id.as_ref() == Some(&region.id))
                        .map(|m| &m.id),
                ));
                CountyMean {
                    id: region.id.clone(),
                    mean: mean.mean,
                    n: mean.n,
                }
            });
            let similar = network.map(|network| {
                let mean = Mean::of(&figures_of(&mut network.member_ids.iter()));
                SimilarMean {
                    network_id: network.id.clone(),
                    mean: mean.mean,
                    n: mean.n,
                }
            });
            let target = indicator.target.map(|target| TargetCheck {
                value: target,
                met: own.map(|value| indicator.direction.meets(value, target)),
            });
            let trend_rows: Vec<(String, Option<f64>)> = indicator_values::table
                .filter(indicator_values::indicator_id.eq(id.as_str()))
                .filter(indicator_values::organization_id.eq(organization_id.as_str()))
                .filter(indicator_values::gender.eq(Gender::T.as_str()))
                .select((indicator_values::period, indicator_values::value))
                .load(conn)?;
            let mut trend: Vec<TrendPoint> = trend_rows
                .into_iter()
                .map(|(period, value)| TrendPoint { period, value })
                .collect();
            trend.sort_by(|a, b| {
                Period::sort_key(&a.period)
                    .cmp(&Period::sort_key(&b.period))
                    .then_with(|| a.period.cmp(&b.period))
            });
            Ok(Comparison {
                indicator_id: indicator.id.clone(),
                period: period.to_owned(),
                organization: ComparedOrganization {
                    id: organization.id.clone(),
                    value: own,
                    rank,
                    of: national.len(),
                },
                county,
                national: Mean::of(&national),
                similar,
                target,
                trend,
            })
        })
    }
}

/// Per organization, the indicators whose newest value for it is older than their
/// update frequency allows (the rule of `is_stale`), by id.
pub(crate) fn stale_indicators_by_organization(
    conn: &mut DbConnection,
    organization_ids: &[&str],
) -> Result<HashMap<String, Vec<IndicatorId>>, StoreError> {
    let rows: Vec<(String, String, String, String)> = indicator_values::table
        .inner_join(indicators::table)
        .filter(indicator_values::organization_id.eq_any(organization_ids))
        .filter(indicator_values::value.is_not_null())
        .select((
            indicator_values::organization_id,
            indicator_values::indicator_id,
            indicator_values::period,
            indicators::update_frequency,
        ))
        .distinct()
        .load(conn)?;
    let mut newest: HashMap<(String, String), (String, String)> = HashMap::new();
    for (organization, indicator, period, frequency) in rows {
        let entry = newest
            .entry((organization, indicator))
            .or_insert_with(|| (period.clone(), frequency));
        if Period::sort_key(&period) > Period::sort_key(&entry.0) {
            entry.0 = period;
        }
    }
    let now = crate::now();
    let mut stale: HashMap<String, Vec<IndicatorId>> = HashMap::new();
    for ((organization, indicator), (period, frequency)) in newest {
        let frequency = UpdateFrequency::parse(&frequency)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown update frequency {frequency:?}")))?;
        if rules::is_stale(frequency, Some(&period), now) {
            stale
                .entry(organization)
                .or_default()
                .push(IndicatorId::from_stored(indicator));
        }
    }
    for ids in stale.values_mut() {
        ids.sort();
    }
    Ok(stale)
}
