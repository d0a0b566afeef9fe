//! Indicators (mätetal) and their values, as Kolada and Öppna jämförelser
//! publish them: periods, genders, staleness and the comparison figures.

use crate::goal::TargetUnit;
use crate::ids::{IndicatorId, OrganizationId};
use crate::patch::{apply_required, Patch};
use crate::validation::{Errors, MAX_SHORT, MAX_TITLE};
use crate::DomainError;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

/// Whether a higher or a lower value is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Increasing,
    Decreasing,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Increasing => "increasing",
            Self::Decreasing => "decreasing",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Increasing, Self::Decreasing]
            .into_iter()
            .find(|d| d.as_str() == text)
    }

    /// Whether `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Self::Increasing => a > b,
            Self::Decreasing => a < b,
        }
    }

    /// Whether `value` reaches `target`.
    pub fn meets(self, value: f64, target: f64) -> bool {
        match self {
            Self::Increasing => value >= target,
            Self::Decreasing => value <= target,
        }
    }
}

/// Where the indicator's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IndicatorSource {
    Kolada,
    Scb,
    Socialstyrelsen,
    Internal,
    Other,
}

impl IndicatorSource {
    pub const ALL: [IndicatorSource; 5] = [
        Self::Kolada,
        Self::Scb,
        Self::Socialstyrelsen,
        Self::Internal,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kolada => "kolada",
            Self::Scb => "scb",
            Self::Socialstyrelsen => "socialstyrelsen",
            Self::Internal => "internal",
            Self::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// How often new values are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UpdateFrequency {
    Monthly,
    Quarterly,
    Tertial,
    Yearly,
    /// No schedule: never stale.
    Irregular,
}

impl UpdateFrequency {
    pub const ALL: [UpdateFrequency; 5] = [
        Self::Monthly,
        Self::Quarterly,
        Self::Tertial,
        Self::Yearly,
        Self::Irregular,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::Quarterly => "quarterly",
            Self::Tertial => "tertial",
            Self::Yearly => "yearly",
            Self::Irregular => "irregular",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == text)
    }

    /// The number of the period of this frequency that holds `(year, month)`; `None` when irregular.
    fn index(self, year: i32, month: u32) -> Option<i64> {
        let (year, month0) = (i64::from(year), i64::from(month) - 1);
        match self {
            Self::Monthly => Some(year * 12 + month0),
            Self::Quarterly => Some(year * 4 + month0 / 3),
            Self::Tertial => Some(year * 3 + month0 / 4),
            Self::Yearly => Some(year),
            Self::Irregular => None,
        }
    }
}

/// Kolada's genders: `T` total, `K` women (kvinnor), `M` men (män).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Gender {
    T,
    K,
    M,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::T => "T",
            Self::K => "K",
            Self::M => "M",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::T, Self::K, Self::M].into_iter().find(|g| g.as_str() == text)
    }
}

/// A period as Kolada writes it: a year `2016`, a month `2016-03`, a tertial
/// `2016T1` (1–3) or a quarter `2016Q1` (1–4). Its sort key is its last month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub year: i32,
    /// The last month the period covers (1–12).
    pub last_month: u32,
}

impl Period {
    pub fn parse(text: &str) -> Option<Period> {
        let year_text = text.get(..4)?;
        if !year_text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year: i32 = year_text.parse().ok()?;
        if year < 1000 {
            return None;
        }
        let rest = &text[4..];
        let number = |digits: &str, max: u32| -> Option<u32> {
            if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok().filter(|n| (1..=max).contains(n))
        };
        let last_month = if rest.is_empty() {
            12
        } else if let Some(month) = rest.strip_prefix('-') {
            (month.len() == 2).then_some(())?;
            number(month, 12)?
        } else if let Some(tertial) = rest.strip_prefix('T') {
            number(tertial, 3)? * 4
        } else if let Some(quarter) = rest.strip_prefix('Q') {
            number(quarter, 4)? * 3
        } else {
            return None;
        };
        Some(Period { year, last_month })
    }

    /// Orders periods by the last month they cover.
    pub fn sort_key(text: &str) -> (i32, u32) {
        Self::parse(text).map_or((0, 0), |p| (p.year, p.last_month))
    }
}

/// The staleness rule: with the newest value's period at `newest`, the
/// indicator is stale when that period, counted in the indicator's own
/// periods, lies before the one preceding the current period (yearly: the
/// newest year < current year − 1; tertial: more than one whole tertial behind;
/// monthly: more than one whole month behind). Irregular indicators and
/// indicators without any value are never stale.
pub fn is_stale(frequency: UpdateFrequency, newest: Option<&str>, now: DateTime<Utc>) -> bool {
    let Some(newest) = newest.and_then(Period::parse) else {
        return false;
    };
    match (
        frequency.index(newest.year, newest.last_month),
        frequency.index(now.year(), now.month()),
    ) {
        (Some(newest), Some(current)) => newest < current - 1,
        _ => false,
    }
}

/// An indicator as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Indicator {
    pub id: IndicatorId,
    /// The source's code, e.g. Kolada's KPI id; unique.
    #[cfg_attr(feature = "openapi", schema(example = "U21468"))]
    pub code: String,
    #[cfg_attr(
        feature = "openapi",
        schema(example = "Brukarbedömning hemtjänst äldreomsorg - helhetssyn, andel (%)")
    )]
    pub title: String,
    pub unit: TargetUnit,
    /// Whether higher (`increasing`) or lower (`decreasing`) values are better.
    pub direction: Direction,
    pub source: IndicatorSource,
    pub update_frequency: UpdateFrequency,
    /// The target value (målvärde) the comparison's `target.met` is judged by; null when none.
    pub target: Option<f64>,
    /// The organization that maintains the indicator (the root for national indicators);
    /// editors in its scope change it.
    pub organization_id: OrganizationId,
    /// The newest period with a (non-missing) value; null while there is none.
    pub newest_period: Option<String>,
    /// True when the newest value is older than `update_frequency` allows: the newest period,
    /// counted in the indicator's periods, lies before the one preceding the current period
    /// (yearly: newest year < current year − 1; tertial `2016T1`: more than one whole tertial
    /// behind; monthly `2016-03`: more than one whole month behind). Irregular indicators and
    /// indicators without values are never stale.
    pub stale: bool,
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Indicator {
    /// Sets `newest_period` and `stale` from the newest value's period.
    pub fn with_newest(mut self, newest: Option<String>, now: DateTime<Utc>) -> Self {
        self.stale = is_stale(self.update_frequency, newest.as_deref(), now);
        self.newest_period = newest;
        self
    }
}

/// Body of `POST /v1/indicators`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewIndicator {
    #[cfg_attr(feature = "openapi", schema(pattern = r"^\S+$", max_length = 500))]
    pub code: String,
    #[cfg_attr(feature = "openapi", schema(pattern = r"\S", max_length = 500))]
    pub title: String,
    pub unit: TargetUnit,
    pub direction: Direction,
    pub source: IndicatorSource,
    pub update_frequency: UpdateFrequency,
    #[serde(default)]
    pub target: Option<f64>,
    /// Defaults to the root organization (a national indicator).
    #[serde(default)]
    pub organization_id: Option<OrganizationId>,
}

fn validate_code(errors: &mut Errors, code: &str) {
    errors.require_text("code", code, MAX_SHORT);
    if code.chars().any(char::is_whitespace) {
        errors.add("code", "must not contain white space");
    }
}

fn validate_target(errors: &mut Errors, target: Option<f64>) {
    if target.is_some_and(|t| !t.is_finite()) {
        errors.add("target", "must be a finite number");
    }
}

impl NewIndicator {
    pub fn into_indicator(self, now: DateTime<Utc>) -> Result<Indicator, DomainError> {
        let mut errors = Errors::new();
        let code = self.code.trim().to_owned();
        validate_code(&mut errors, &code);
        errors.require_text("title", &self.title, MAX_TITLE);
        validate_target(&mut errors, self.target);
        errors.finish()?;
        Ok(Indicator {
            id: IndicatorId::generate(),
            code,
            title: self.title.trim().to_owned(),
            unit: self.unit,
            direction: self.direction,
            source: self.source,
            update_frequency: self.update_frequency,
            target: self.target,
            organization_id: self.organization_id.unwrap_or_else(OrganizationId::root),
            newest_period: None,
            stale: false,
            revision: 1,
            created_at: now,
            updated_at: now,
        })
    }
}

/// Body of `PATCH /v1/indicators/{id}`: fields present are changed, `null` clears `target`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IndicatorPatch {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"^\S+$", max_length = 500))]
    pub code: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"\S", max_length = 500))]
    pub title: Patch<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = TargetUnit))]
    pub unit: Patch<TargetUnit>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Direction))]
    pub direction: Patch<Direction>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = IndicatorSource))]
    pub source: Patch<IndicatorSource>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = UpdateFrequency))]
    pub update_frequency: Patch<UpdateFrequency>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub target: Patch<f64>,
}

impl Indicator {
    /// Applies a patch; returns the names of the fields that changed.
    pub fn apply_patch(&mut self, patch: IndicatorPatch) -> Result<Vec<&'static str>, DomainError> {
        let mut errors = Errors::new();
        let required = [
            ("code", matches!(patch.code, Patch::Null)),
            ("title", matches!(patch.title, Patch::Null)),
            ("unit", matches!(patch.unit, Patch::Null)),
            ("direction", matches!(patch.direction, Patch::Null)),
            ("source", matches!(patch.source, Patch::Null)),
            ("update_frequency", matches!(patch.update_frequency, Patch::Null)),
        ];
        for (field, is_null) in required {
            if is_null {
                errors.add(field, "must not be null");
            }
        }
        let code = match patch.code {
            Patch::Value(code) => {
                let code = code.trim().to_owned();
                validate_code(&mut errors, &code);
                Patch::Value(code)
            }
            other => other,
        };
        let title = match patch.title {
            Patch::Value(title) => {
                errors.require_text("title", &title, MAX_TITLE);
                Patch::Value(title.trim().to_owned())
            }
            other => other,
        };
        validate_target(&mut errors, patch.target.as_value().copied());
        errors.finish()?;

        let mut changed = Vec::new();
        if apply_required(code, &mut self.code) {
            changed.push("code");
        }
        if apply_required(title, &mut self.title) {
            changed.push("title");
        }
        if apply_required(patch.unit, &mut self.unit) {
            changed.push("unit");
        }
        if apply_required(patch.direction, &mut self.direction) {
            changed.push("direction");
        }
        if apply_required(patch.source, &mut self.source) {
            changed.push("source");
        }
        if apply_required(patch.update_frequency, &mut self.update_frequency) {
            changed.push("update_frequency");
        }
        if patch.target.apply_to(&mut self.target) {
            changed.push("target");
        }
        Ok(changed)
    }
}

/// One value of an indicator: an organization's figure for a period and gender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IndicatorValue {
    pub organization_id: OrganizationId,
    /// `2016`, `2016-03` (month), `2016T1` (tertial) or `2016Q1` (quarter).
    #[cfg_attr(
        feature = "openapi",
        schema(example = "2016", pattern = r"^[1-9][0-9]{3}(-(0[1-9]|1[0-2])|T0?[1-3]|Q0?[1-4])?$")
    )]
    pub period: String,
    pub gender: Gender,
    /// The figure; null when it is missing at the source (stored as missing, never as 0).
    #[cfg_attr(feature = "openapi", schema(example = 87.0))]
    pub value: Option<f64>,
}

/// Checks a batch of values; errors name `values[i].field`.
pub fn validate_values(values: &[IndicatorValue]) -> Result<(), DomainError> {
    let mut errors = Errors::new();
    let mut seen = std::collections::HashSet::new();
    for (index, value) in values.iter().enumerate() {
        if Period::parse(&value.period).is_none() {
            errors.add(
                format!("values[{index}].period"),
                "must be a year (2016), a month (2016-03), a tertial (2016T1) or a quarter (2016Q1)",
            );
        }
        if value.value.is_some_and(|v| !v.is_finite()) {
            errors.add(format!("values[{index}].value"), "must be a finite number or null");
        }
        if !seen.insert((&value.organization_id, &value.period, value.gender)) {
            errors.add(
                format!("values[{index}]"),
                "repeats the organization, period and gender of an earlier value",
            );
        }
    }
    errors.finish()
}

/// The mean of some values, and how many there were; `mean` is null when there are none.
/// Means are given as computed, not rounded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mean {
    pub mean: Option<f64>,
    pub n: usize,
}

impl Mean {
    pub fn of(values: &[f64]) -> Mean {
        let n = values.len();
        Mean {
            mean: (n > 0).then(|| values.iter().sum::<f64>() / n as f64),
            n,
        }
    }
}

/// The rank of `value` among `values` (which include it): 1 + the number strictly better, so
/// ties share a rank.
pub fn rank(direction: Direction, value: f64, values: &[f64]) -> usize {
    1 + values.iter().filter(|other| direction.better(**other, value)).count()
}

/// The answer of `PUT /v1/indicators/{id}/values`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValuesSummary {
    pub indicator_id: IndicatorId,
    /// Values inserted or changed (missing ones included).
    pub upserted: usize,
    /// Values already stored exactly as given.
    pub unchanged: usize,
    /// Of the values given, those that are missing (`value: null`).
    pub missing: usize,
    /// The organizations whose values were given.
    pub organization_ids: Vec<OrganizationId>,
}

/// A Kolada period: v2 and v3 write an integer (`2016`), some exports a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KoladaPeriod {
    Year(i64),
    Text(String),
}

/// A year as a number (`2016`), or a period as text as [`Period::parse`] reads it once trimmed.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for KoladaPeriod {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1000))
                    .maximum(Some(9999)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^\s*[1-9][0-9]{3}(-(0[1-9]|1[0-2])|T0?[1-3]|Q0?[1-4])?\s*$")),
            )
            .description(Some(
                "The year (`2016`) or the period as text (`\"2016\"`, `\"2016-03\"`, `\"2016T1\"`, `\"2016Q1\"`).",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for KoladaPeriod {}

impl KoladaPeriod {
    pub fn text(&self) -> String {
        match self {
            Self::Year(year) => year.to_string(),
            Self::Text(text) => text.trim().to_owned(),
        }
    }
}

/// One gender's figure in a Kolada row.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KoladaValue {
    /// `T`, `K` or `M`.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^\s*[TKM]\s*$"))]
    pub gender: String,
    #[serde(default)]
    pub value: Option<f64>,
    /// `Missing` (or a null `value`): the figure is missing and is stored as missing.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub count: Option<i64>,
    /// True: the value was withdrawn at the source and is removed here.
    #[serde(default)]
    pub isdeleted: Option<bool>,
}

impl KoladaValue {
    /// The figure to store: `None` when missing.
    pub fn figure(&self) -> Option<f64> {
        let missing = self
            .status
            .as_deref()
            .is_some_and(|status| status.eq_ignore_ascii_case("missing"));
        if missing {
            None
        } else {
            self.value
        }
    }
}

/// One Kolada row: a KPI, a municipality (or region; `0000` is the whole country) and a period.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KoladaRow {
    #[cfg_attr(feature = "openapi", schema(example = "U21468", pattern = r"\S"))]
    pub kpi: String,
    /// Kolada's 4-digit code with leading zeros (`0180`, `2309`; `0000` = Sverige).
    #[cfg_attr(feature = "openapi", schema(example = "2309", pattern = r"\S"))]
    pub municipality: String,
    pub period: KoladaPeriod,
    #[serde(default)]
    pub values: Vec<KoladaValue>,
    /// True: every value of the row was withdrawn at the source and is removed here.
    #[serde(default)]
    pub isdeleted: Option<bool>,
}

/// Kolada's `data` JSON (API v2 or v3) as it comes; other fields (`count`, `next_page`, …) are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KoladaData {
    pub values: Vec<KoladaRow>,
}

impl KoladaData {
    /// Checks every row; errors name `values[i].values[j].field`.
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = Errors::new();
        for (i, row) in self.values.iter().enumerate() {
            if row.kpi.trim().is_empty() {
                errors.add(format!("values[{i}].kpi"), "must not be empty");
            }
            if row.municipality.trim().is_empty() {
                errors.add(format!("values[{i}].municipality"), "must not be empty");
            }
            if Period::parse(&row.period.text()).is_none() {
                errors.add(format!("values[{i}].period"), "is not a period Kolada writes");
            }
            for (j, value) in row.values.iter().enumerate() {
                if Gender::parse(value.gender.trim()).is_none() {
                    errors.add(format!("values[{i}].values[{j}].gender"), "must be T, K or M");
                }
                if value.value.is_some_and(|v| !v.is_finite()) {
                    errors.add(
                        format!("values[{i}].values[{j}].value"),
                        "must be a finite number or null",
                    );
                }
            }
        }
        errors.finish()
    }
}

/// The codes a Kolada municipality code may have here, most exact first: as written, then
/// without leading zeros one at a time (`0180`, `180`; `0023`, `023`, `23`).
pub fn kolada_code_candidates(code: &str) -> Vec<String> {
    let code = code.trim();
    let mut candidates = vec![code.to_owned()];
    let mut rest = code;
    while let Some(shorter) = rest.strip_prefix('0') {
        if shorter.is_empty() {
            break;
        }
        candidates.push(shorter.to_owned());
        rest = shorter;
    }
    candidates
}

/// Kolada's code for the whole country, mapped onto the root organization.
pub const KOLADA_COUNTRY: &str = "0000";

/// What a Kolada import did to one indicator.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KoladaIndicatorSummary {
    pub indicator_id: Option<IndicatorId>,
    pub code: String,
    pub upserted: usize,
    pub unchanged: usize,
    pub missing: usize,
    pub removed: usize,
}

/// The answer of `POST /v1/indicators/import/kolada`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KoladaSummary {
    /// Values inserted or changed (missing ones included).
    pub upserted: usize,
    /// Values already stored exactly as given.
    pub unchanged: usize,
    /// Of the values imported, those missing at the source (stored as missing, not 0).
    pub missing: usize,
    /// Stored values removed by `isdeleted` rows.
    pub removed: usize,
    /// Values not imported: unknown KPI, unmapped code, or an organization outside the caller's scope.
    pub skipped: usize,
    /// KPIs with no indicator of that `code` (create the indicator first).
    pub unknown_kpis: Vec<String>,
    /// Municipality codes that map to no organization.
    pub unmapped_codes: Vec<String>,
    /// Codes of organizations whose values the caller may not edit.
    pub out_of_scope_codes: Vec<String>,
    /// Per indicator touched.
    pub indicators: Vec<KoladaIndicatorSummary>,
}

/// The organization's own figure in a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComparedOrganization {
    pub id: OrganizationId,
    /// Null when missing or absent.
    pub value: Option<f64>,
    /// Place among the municipalities with a value for the period, 1 = best as `direction`
    /// says; ties share a rank. Null unless the organization is a municipality with a value.
    pub rank: Option<usize>,
    /// How many municipalities have a value for the period.
    pub of: usize,
}

/// The mean over the municipalities of the organization's region.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CountyMean {
    /// The region.
    pub id: OrganizationId,
    pub mean: Option<f64>,
    pub n: usize,
}

/// The mean over a network's members.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SimilarMean {
    pub network_id: OrganizationId,
    pub mean: Option<f64>,
    pub n: usize,
}

/// The indicator's target, and whether the organization's value meets it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetCheck {
    pub value: f64,
    /// `value ≥ target` for increasing indicators, `≤` for decreasing; null without a value.
    pub met: Option<bool>,
}

/// One period of the organization's trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrendPoint {
    pub period: String,
    /// Null when missing at the source.
    pub value: Option<f64>,
}

/// The answer of `GET /v1/indicators/{id}/comparison`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Comparison {
    pub indicator_id: IndicatorId,
    pub period: String,
    pub organization: ComparedOrganization,
    /// Null when the organization is neither a region nor under one.
    pub county: Option<CountyMean>,
    pub national: Mean,
    /// Present only when `similar_network_id` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similar: Option<SimilarMean>,
    /// Null when the indicator has no target.
    pub target: Option<TargetCheck>,
    /// The organization's values by period, oldest first.
    pub trend: Vec<TrendPoint>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(year: i32, month: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, 15, 12, 0, 0).single().expect("date")
    }

    #[test]
    fn periods_parse_as_kolada_writes_them() {
        assert_eq!(Period::parse("2016").map(|p| p.last_month), Some(12));
        assert_eq!(Period::parse("2016-03").map(|p| p.last_month), Some(3));
        assert_eq!(Period::parse("2016T1").map(|p| p.last_month), Some(4));
        assert_eq!(Period::parse("2016Q2").map(|p| p.last_month), Some(6));
        for bad in ["16", "2016-13", "2016T4", "2016-3", "abcd", "2016 "] {
            assert!(Period::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn yearly_indicators_go_stale_when_the_newest_year_is_before_last_year() {
        let now = at(2018, 5);
        assert!(!is_stale(UpdateFrequency::Yearly, Some("2017"), now));
        assert!(is_stale(UpdateFrequency::Yearly, Some("2016"), now));
        assert!(!is_stale(UpdateFrequency::Yearly, None, now));
        assert!(!is_stale(UpdateFrequency::Irregular, Some("1990"), now));
    }

    #[test]
    fn monthly_and_tertial_indicators_allow_one_period_behind() {
        let now = at(2016, 5);
        assert!(!is_stale(UpdateFrequency::Monthly, Some("2016-04"), now));
        assert!(is_stale(UpdateFrequency::Monthly, Some("2016-03"), now));
        assert!(!is_stale(UpdateFrequency::Tertial, Some("2016T1"), now));
        assert!(is_stale(UpdateFrequency::Tertial, Some("2015T2"), now));
    }

    #[test]
    fn rank_honours_direction_and_ties_share() {
        let values = [80.0, 87.0, 90.0, 87.0];
        assert_eq!(rank(Direction::Increasing, 87.0, &values), 2);
        assert_eq!(rank(Direction::Decreasing, 87.0, &values), 2);
        assert_eq!(rank(Direction::Decreasing, 80.0, &values), 1);
        assert_eq!(Mean::of(&[]).mean, None);
        assert_eq!(Mean::of(&[1.0, 2.0]).mean, Some(1.5));
    }

    #[test]
    fn repeated_values_in_a_batch_are_refused() {
        let value = IndicatorValue {
            organization_id: OrganizationId::root(),
            period: "2016".into(),
            gender: Gender::T,
            value: None,
        };
        assert!(validate_values(&[value.clone(), value]).is_err());
    }

    #[test]
    fn kolada_codes_are_tried_with_and_without_leading_zeros() {
        assert_eq!(kolada_code_candidates("0180"), ["0180", "180"]);
        assert_eq!(kolada_code_candidates("0023"), ["0023", "023", "23"]);
        assert_eq!(kolada_code_candidates("2309"), ["2309"]);
    }
}
