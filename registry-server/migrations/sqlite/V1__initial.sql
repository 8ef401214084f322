-- The schema every data directory made before versioned migrations already has (version 0
-- counts as this one): each statement is idempotent, so applying it there changes nothing.
CREATE TABLE IF NOT EXISTS records (
    registry_index INTEGER PRIMARY KEY,
    log_id TEXT NOT NULL,
    record_id TEXT NOT NULL UNIQUE,
    package_name TEXT,
    envelope BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    log_length INTEGER PRIMARY KEY,
    envelope TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    namespaces TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS pending_records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL UNIQUE,
    log_id TEXT NOT NULL,
    package_name TEXT NOT NULL,
    envelope BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sourcing', 'processing', 'rejected')),
    reason TEXT
);
CREATE INDEX IF NOT EXISTS pending_records_by_log ON pending_records (log_id);
CREATE TABLE IF NOT EXISTS upload_sessions (
    id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS upload_sessions_by_record ON upload_sessions (record_id);
CREATE TABLE IF NOT EXISTS oci_manifests (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    subject TEXT,
    artifact_type TEXT,
    annotations TEXT,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX IF NOT EXISTS oci_manifests_subject ON oci_manifests (repo, subject);
CREATE TABLE IF NOT EXISTS oci_tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (repo, tag)
);
CREATE TABLE IF NOT EXISTS oci_uploads (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    committed INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
