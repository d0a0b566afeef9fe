//! The computed `progress` of goals and plans. The rule, stated once so that
//! anyone can reproduce the figure: `activities_total` counts every activity,
//! `by_status` counts them per status, and `share_done` is
//! `done / (activities_total − cancelled)` rounded to two decimals (0 when
//! nothing is left to count). A plan's progress sums its goals'.

use crate::activity::ActivityStatus;
use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusCounts {
    pub planned: i64,
    pub in_progress: i64,
    pub done: i64,
    pub postponed: i64,
    pub cancelled: i64,
}

impl StatusCounts {
    pub fn add(&mut self, status: ActivityStatus, count: i64) {
        let slot = match status {
            ActivityStatus::Planned => &mut self.planned,
            ActivityStatus::InProgress => &mut self.in_progress,
            ActivityStatus::Done => &mut self.done,
            ActivityStatus::Postponed => &mut self.postponed,
            ActivityStatus::Cancelled => &mut self.cancelled,
        };
        *slot += count;
    }

    pub fn total(&self) -> i64 {
        self.planned + self.in_progress + self.done + self.postponed + self.cancelled
    }
}

/// How far the activities under a goal or plan have come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Progress {
    pub activities_total: i64,
    pub by_status: StatusCounts,
    /// `done / (activities_total − cancelled)`, two decimals; 0 when that is 0 / 0.
    pub share_done: f64,
}

impl Progress {
    pub fn from_counts(by_status: StatusCounts) -> Self {
        let counted = by_status.total() - by_status.cancelled;
        let share_done = if counted == 0 {
            0.0
        } else {
            (by_status.done as f64 / counted as f64 * 100.0).round() / 100.0
        };
        Self {
            activities_total: by_status.total(),
            by_status,
            share_done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_done_matches_the_contract_example() {
        let mut counts = StatusCounts::default();
        counts.add(ActivityStatus::Done, 5);
        counts.add(ActivityStatus::InProgress, 4);
        counts.add(ActivityStatus::Planned, 3);
        let progress = Progress::from_counts(counts);
        assert_eq!(progress.activities_total, 12);
        assert_eq!(progress.share_done, 0.42);
    }

    #[test]
    fn cancelled_activities_are_left_out_of_the_share() {
        let mut counts = StatusCounts::default();
        counts.add(ActivityStatus::Done, 1);
        counts.add(ActivityStatus::Cancelled, 3);
        let progress = Progress::from_counts(counts);
        assert_eq!(progress.activities_total, 4);
        assert_eq!(progress.share_done, 1.0);
    }

    #[test]
    fn no_activities_is_zero_not_a_division_by_zero() {
        assert_eq!(Progress::from_counts(StatusCounts::default()).share_done, 0.0);
        let mut only_cancelled = StatusCounts::default();
        only_cancelled.add(ActivityStatus::Cancelled, 2);
        assert_eq!(Progress::from_counts(only_cancelled).share_done, 0.0);
    }
}
