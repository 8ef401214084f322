-- The registry's metadata on PostgreSQL, shared by every instance: the log, tokens, pending
-- records and their upload sessions, OCI manifests and tags, OCI upload sessions with their
-- bytes (so a PATCH and the PUT that ends it may land on different instances), and the
-- secrets every instance signs with.
CREATE TABLE records (
    registry_index BIGINT PRIMARY KEY,
    log_id TEXT NOT NULL,
    record_id TEXT NOT NULL UNIQUE,
    package_name TEXT,
    envelope BYTEA NOT NULL
);
-- One checkpoint per log length: two instances can never sign two for the same index.
CREATE TABLE checkpoints (
    log_length BIGINT PRIMARY KEY,
    envelope TEXT NOT NULL
);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    namespaces TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE pending_records (
    seq BIGSERIAL PRIMARY KEY,
    record_id TEXT NOT NULL UNIQUE,
    log_id TEXT NOT NULL,
    package_name TEXT NOT NULL,
    envelope BYTEA NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sourcing', 'processing', 'rejected')),
    reason TEXT
);
CREATE INDEX pending_records_by_log ON pending_records (log_id);
CREATE TABLE upload_sessions (
    id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE INDEX upload_sessions_by_record ON upload_sessions (record_id);
CREATE TABLE oci_manifests (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    subject TEXT,
    artifact_type TEXT,
    annotations TEXT,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX oci_manifests_subject ON oci_manifests (repo, subject);
CREATE TABLE oci_tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (repo, tag)
);
CREATE TABLE oci_uploads (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    committed BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE oci_upload_chunks (
    id TEXT NOT NULL REFERENCES oci_uploads (id) ON DELETE CASCADE,
    start_offset BIGINT NOT NULL,
    bytes BYTEA NOT NULL,
    PRIMARY KEY (id, start_offset)
);
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
