//! The status rule goals and activities share: follow-ups re-assess them each
//! period, so their status may move freely between values; only `cancelled`
//! is final. (Plans have a table of their own, in `plan`.)

use crate::DomainError;

pub trait AssessedStatus: Copy + Eq + 'static {
    const ALL: &'static [Self];
    const CANCELLED: Self;

    fn name(self) -> &'static str;

    /// The statuses this one may move to.
    fn allowed_next(self) -> Vec<Self> {
        if self == Self::CANCELLED {
            return vec![];
        }
        Self::ALL.iter().copied().filter(|status| *status != self).collect()
    }
}

/// Moves `status` to `to` if the rule allows it; `None` when it already is `to`.
pub fn change<S: AssessedStatus>(status: &mut S, to: S) -> Result<Option<S>, DomainError> {
    let from = *status;
    if from == to {
        return Ok(None);
    }
    let allowed = from.allowed_next();
    if !allowed.contains(&to) {
        return Err(DomainError::InvalidTransition {
            from: from.name().into(),
            to: to.name().into(),
            allowed: allowed.iter().map(|s| s.name().to_owned()).collect(),
        });
    }
    *status = to;
    Ok(Some(from))
}
