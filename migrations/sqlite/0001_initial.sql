-- antigravityd schema, SQLite (same tables and meaning as migrations/postgres/0001_initial.sql).
-- Representations: UUIDs as TEXT, times as REAL epoch seconds (UTC), booleans as 0/1, JSON as TEXT.

CREATE TABLE accounts (
    id                    TEXT PRIMARY KEY,
    email                 TEXT NOT NULL UNIQUE,
    name                  TEXT,
    tier                  TEXT,
    disabled              INTEGER NOT NULL DEFAULT 0,
    disabled_reason       TEXT,
    disabled_at           REAL,
    proxy_disabled        INTEGER NOT NULL DEFAULT 0,
    proxy_disabled_reason TEXT,
    proxy_disabled_at     REAL,
    protected_models      TEXT NOT NULL DEFAULT '[]',
    proxy_url             TEXT,            -- Fernet ciphertext: it may carry a password
    created_at            REAL NOT NULL,
    updated_at            REAL NOT NULL,
    last_used_at          REAL
) STRICT;

CREATE TABLE tokens (
    account_id     TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    refresh_token  TEXT NOT NULL,   -- Fernet ciphertext
    access_token   TEXT,            -- Fernet ciphertext
    expires_at     REAL,
    project_id     TEXT,
    project_source TEXT CHECK (project_source IN ('upstream', 'fallback')),
    updated_at     REAL NOT NULL
) STRICT;

CREATE TABLE quotas (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    forbidden  INTEGER NOT NULL DEFAULT 0,
    tier       TEXT,
    models     TEXT NOT NULL DEFAULT '{}',
    fetched_at REAL NOT NULL
) STRICT;

CREATE TABLE account_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT REFERENCES accounts (id) ON DELETE SET NULL,
    email      TEXT,
    kind       TEXT NOT NULL,
    details    TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
) STRICT;
CREATE INDEX account_events_account ON account_events (account_id, id);
CREATE INDEX account_events_email ON account_events (email, id);

CREATE TABLE requests (
    request_id      TEXT PRIMARY KEY,
    ts              REAL NOT NULL,
    account_id      TEXT,
    account_email   TEXT,
    dialect         TEXT NOT NULL,
    path            TEXT NOT NULL,
    requested_model TEXT,
    mapped_model    TEXT,
    status          INTEGER NOT NULL,
    error_class     TEXT,
    tokens_in       INTEGER NOT NULL DEFAULT 0,
    tokens_out      INTEGER NOT NULL DEFAULT 0,
    tokens_cached   INTEGER NOT NULL DEFAULT 0,
    tokens_thinking INTEGER NOT NULL DEFAULT 0,
    latency_ms      INTEGER NOT NULL DEFAULT 0,
    ttfb_ms         INTEGER,
    stream          INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX requests_ts ON requests (ts);
CREATE INDEX requests_account_ts ON requests (account_id, ts);
CREATE INDEX requests_errors_ts ON requests (ts) WHERE status >= 400;

CREATE TABLE request_rollup (
    dim             TEXT NOT NULL CHECK (dim IN ('total', 'model', 'account', 'model_day', 'account_day')),
    hour            REAL NOT NULL,
    key             TEXT NOT NULL DEFAULT '',
    label           TEXT NOT NULL DEFAULT '',
    requests        INTEGER NOT NULL DEFAULT 0,
    errors          INTEGER NOT NULL DEFAULT 0,
    tokens_in       INTEGER NOT NULL DEFAULT 0,
    tokens_out      INTEGER NOT NULL DEFAULT 0,
    tokens_cached   INTEGER NOT NULL DEFAULT 0,
    tokens_thinking INTEGER NOT NULL DEFAULT 0,
    latency_ms_sum  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (dim, hour, key)
) STRICT;

CREATE TABLE app_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
) STRICT;

CREATE TABLE model_mappings (
    key        TEXT PRIMARY KEY,
    target     TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX model_mappings_updated ON model_mappings (updated_at);

CREATE TABLE signatures (
    kind         TEXT NOT NULL CHECK (kind IN ('tool_call', 'session', 'content')),
    key          TEXT NOT NULL,
    signature    TEXT NOT NULL,
    model_family TEXT NOT NULL,
    created_at   REAL NOT NULL,
    last_used_at REAL NOT NULL,
    PRIMARY KEY (kind, key)
) STRICT;
CREATE INDEX signatures_last_used ON signatures (kind, last_used_at);

-- Change feed: a version per topic, bumped by triggers in the writing transaction. Watchers poll
-- PRAGMA data_version (free) and read this table only when some other connection committed.
CREATE TABLE change_versions (
    topic   TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) STRICT;
INSERT INTO change_versions (topic, version) VALUES ('accounts', 0), ('settings', 0);

CREATE TRIGGER accounts_changed_insert AFTER INSERT ON accounts
BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'accounts'; END;
CREATE TRIGGER accounts_changed_delete AFTER DELETE ON accounts
BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'accounts'; END;
CREATE TRIGGER accounts_changed_update AFTER UPDATE OF
    email, name, tier, disabled, disabled_reason, proxy_disabled, proxy_disabled_reason, protected_models, proxy_url
    ON accounts
BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'accounts'; END;
CREATE TRIGGER tokens_changed_insert AFTER INSERT ON tokens
BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'accounts'; END;
CREATE TRIGGER tokens_changed_update AFTER UPDATE ON tokens
BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'accounts'; END;
CREATE TRIGGER quotas_changed_insert AFTER INSERT ON quotas
BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'accounts'; END;
CREATE TRIGGER quotas_changed_update AFTER UPDATE ON quotas
BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'accounts'; END;
CREATE TRIGGER app_settings_changed_insert AFTER INSERT ON app_settings
BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'settings'; END;
CREATE TRIGGER app_settings_changed_update AFTER UPDATE ON app_settings
BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'settings'; END;
CREATE TRIGGER model_mappings_changed_insert AFTER INSERT ON model_mappings
BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'settings'; END;
CREATE TRIGGER model_mappings_changed_update AFTER UPDATE ON model_mappings
BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'settings'; END;
