//! Field-level validation errors, collected rather than stopping at the first,
//! so a client sees every bad field in one answer.

use serde::Serialize;

/// One bad field: its path in the request (`period_end`, `plans[3].goals[0].title`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Collects field errors; `finish` turns them into a result.
#[derive(Debug, Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn extend(&mut self, other: Errors) {
        self.0.extend(other.0);
    }

    /// Requires a non-blank text, within `max` characters.
    pub fn require_text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, "must not be empty");
        } else {
            self.limit_text(field, Some(value), max);
        }
    }

    /// Bounds an optional text to `max` characters; NUL is refused, as PostgreSQL cannot store it.
    pub fn limit_text(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(value) = value {
            if value.contains('\0') {
                self.add(field, "must not contain the NUL character");
            } else if value.chars().count() > max {
                self.add(field, format!("must be at most {max} characters"));
            }
        }
    }

    /// Requires a date to have a four-digit year, as `YYYY-MM-DD` writes it.
    pub fn check_date(&mut self, field: &str, value: Option<chrono::NaiveDate>) {
        use chrono::Datelike;
        if value.is_some_and(|date| !(MIN_YEAR..=MAX_YEAR).contains(&date.year())) {
            self.add(
                field,
                format!("must be a date between {MIN_YEAR}-01-01 and {MAX_YEAR}-12-31"),
            );
        }
    }

    pub fn finish(self) -> Result<(), crate::DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(crate::DomainError::Validation(self.0))
        }
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}

/// The years a date may have: four digits, as `YYYY-MM-DD` writes them.
pub const MIN_YEAR: i32 = 1000;
pub const MAX_YEAR: i32 = 9999;

/// Longest title or name accepted.
pub const MAX_TITLE: usize = 500;
/// Longest free text (summaries, comments, reasons) accepted.
pub const MAX_TEXT: usize = 20_000;
/// Longest short text (numbers, codes, versions, names of responsibles) accepted.
pub const MAX_SHORT: usize = 500;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_refused() {
        let mut errors = Errors::new();
        errors.limit_text("comment", Some("a\0b"), 10);
        errors.require_text("title", "\0", 10);
        assert_eq!(errors.into_vec().len(), 2);
    }

    #[test]
    fn dates_need_four_digit_years() {
        let mut errors = Errors::new();
        errors.check_date("due_date", chrono::NaiveDate::from_ymd_opt(-5000, 1, 1));
        errors.check_date("due_date", chrono::NaiveDate::from_ymd_opt(10_000, 1, 1));
        errors.check_date("due_date", chrono::NaiveDate::from_ymd_opt(2016, 12, 31));
        assert_eq!(errors.into_vec().len(), 2);
    }
}
