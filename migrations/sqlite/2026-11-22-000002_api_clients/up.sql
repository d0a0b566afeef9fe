-- Machine clients of the OAuth 2.0 client-credentials grant. The secret is
-- stored only as its SHA-256 (it is a long random string, so a fast hash
-- suffices); revoked clients keep their row, with revoked_at set.
CREATE TABLE api_clients (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    roles TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX api_clients_organization ON api_clients (organization_id, id);
