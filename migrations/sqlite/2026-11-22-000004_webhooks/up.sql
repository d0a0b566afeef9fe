-- Webhook subscriptions. The event log is their outbox: each subscription
-- keeps a cursor (last_delivered_seq) and the state of the event it is
-- delivering (failed_attempts, next_attempt_at), so a restart resumes where
-- delivery stopped. A delivery worker holds a subscription only while it makes
-- one attempt, by a lease (leased_until, lease_owner) taken with a conditional
-- UPDATE, so processes sharing the database never deliver one subscription at
-- once. The secret is kept as given: it is needed to sign every delivery.
-- Deleted subscriptions keep their row (status 'deleted', secret cleared) so
-- their delivery history stays.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    url TEXT NOT NULL,
    event_types TEXT NOT NULL,
    secret TEXT NOT NULL,
    status TEXT NOT NULL,
    disabled_reason TEXT,
    last_delivered_seq BIGINT NOT NULL,
    failed_attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP,
    leased_until TIMESTAMP,
    lease_owner TEXT,
    revision BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhooks_organization ON webhooks (organization_id, id);
CREATE INDEX webhooks_status ON webhooks (status, next_attempt_at);

-- Every delivery attempt, newest found first by its time-ordered id.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id),
    seq BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at TIMESTAMP NOT NULL,
    duration_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    response_status INTEGER,
    error TEXT,
    next_attempt_at TIMESTAMP
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
