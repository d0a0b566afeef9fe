-- Each plan as GET /v1/plans/{id} last answered it, to answer the next read with one
-- statement. Derived data, never a source: a document counts only while its seq is still
-- the plan's last event (any change under the plan appends an event and so outdates it) and
-- its format is the one the running build writes.
CREATE TABLE plan_documents (
    plan_id TEXT PRIMARY KEY REFERENCES plans (id),
    seq BIGINT NOT NULL,
    format TEXT NOT NULL,
    body TEXT NOT NULL
);
