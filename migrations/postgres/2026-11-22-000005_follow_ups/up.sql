-- Follow-up reports (uppföljning) of a plan. The assessments, updates and
-- measurements are JSON arrays kept as text: they are read and written whole
-- with the report, and approval applies them to the goals and activities.
CREATE TABLE follow_ups (
    id TEXT PRIMARY KEY NOT NULL,
    plan_id TEXT NOT NULL REFERENCES plans (id),
    period TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    summary TEXT,
    goal_assessments TEXT NOT NULL,
    activity_updates TEXT NOT NULL,
    measurements TEXT NOT NULL,
    submitted_by TEXT,
    submitted_at TIMESTAMP,
    approved_by TEXT,
    approved_at TIMESTAMP,
    revision BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX follow_ups_plan ON follow_ups (plan_id, id);
-- One report not yet approved per plan, period and kind, even with concurrent writers.
CREATE UNIQUE INDEX follow_ups_one_open ON follow_ups (plan_id, period, kind) WHERE status <> 'approved';
