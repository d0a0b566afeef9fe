-- planledger's foundation schema, PostgreSQL dialect. Keep in step with
-- migrations/sqlite: same tables, same columns, same names.

CREATE TABLE organizations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    code TEXT UNIQUE,
    parent_id TEXT REFERENCES organizations (id),
    member_ids TEXT NOT NULL DEFAULT '[]',
    revision BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX organizations_parent ON organizations (parent_id);

INSERT INTO organizations (id, name, kind, code, parent_id, member_ids, revision, created_at, updated_at)
VALUES ('00000000-0000-0000-0000-000000000000', 'Sverige', 'national', 'SE', NULL, '[]', 1,
        '2026-01-01 00:00:00', '2026-01-01 00:00:00');

CREATE TABLE plans (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    title TEXT NOT NULL,
    diary_number TEXT,
    document_version TEXT,
    period_start DATE,
    period_end DATE,
    owner TEXT,
    summary TEXT,
    perspectives TEXT NOT NULL,
    status TEXT NOT NULL,
    decision TEXT,
    background_decisions TEXT NOT NULL,
    superseded_by TEXT REFERENCES plans (id),
    search_text TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX plans_organization ON plans (organization_id, id);
CREATE INDEX plans_diary_number ON plans (organization_id, diary_number, document_version);
CREATE INDEX plans_updated_at ON plans (updated_at);

CREATE TABLE plan_changelog (
    plan_id TEXT NOT NULL REFERENCES plans (id),
    position INTEGER NOT NULL,
    document_version TEXT,
    date DATE,
    change TEXT,
    decided_by TEXT,
    decided_on DATE,
    PRIMARY KEY (plan_id, position)
);

CREATE TABLE goals (
    id TEXT PRIMARY KEY NOT NULL,
    plan_id TEXT NOT NULL REFERENCES plans (id),
    position INTEGER NOT NULL,
    number TEXT,
    title TEXT NOT NULL,
    reference TEXT,
    parent_goal_id TEXT REFERENCES goals (id),
    status TEXT NOT NULL,
    targets TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX goals_plan ON goals (plan_id, position);

CREATE TABLE activities (
    id TEXT PRIMARY KEY NOT NULL,
    goal_id TEXT NOT NULL REFERENCES goals (id),
    plan_id TEXT NOT NULL REFERENCES plans (id),
    position INTEGER NOT NULL,
    title TEXT NOT NULL,
    target_group TEXT,
    measure TEXT,
    targets TEXT NOT NULL,
    start_year INTEGER,
    end_year INTEGER,
    timeline TEXT,
    due_date DATE,
    responsible_execution TEXT,
    responsible_followup TEXT,
    indicator_id TEXT,
    status TEXT NOT NULL,
    comment TEXT,
    revision BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX activities_goal ON activities (goal_id, position);
CREATE INDEX activities_plan ON activities (plan_id, status);

-- The single head row every write locks to take the next seq: seq is gap-free
-- and in commit order, and the previous hash is at hand for the chain.
CREATE TABLE event_log_head (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO event_log_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE events (
    seq BIGINT PRIMARY KEY NOT NULL,
    id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor_sub TEXT NOT NULL,
    actor_organization_id TEXT,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    organization_id TEXT,
    plan_id TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX events_organization ON events (organization_id, seq);
CREATE INDEX events_plan ON events (plan_id, seq);
CREATE INDEX events_subject ON events (subject_id, seq);

-- The log is append-only at the database level too.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only';
END;
$$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
