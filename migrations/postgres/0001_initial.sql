-- antigravityd schema, PostgreSQL. One id scheme: UUIDs. Times: timestamptz (UTC).
-- Applied in one transaction by antigravityd.store.migrate; recorded in schema_migrations.

CREATE TABLE accounts (
    id                    uuid PRIMARY KEY,
    email                 text NOT NULL UNIQUE,          -- lower-cased by the repository
    name                  text,
    tier                  text,
    disabled              boolean NOT NULL DEFAULT false,
    disabled_reason       text,
    disabled_at           timestamptz,
    proxy_disabled        boolean NOT NULL DEFAULT false,
    proxy_disabled_reason text,
    proxy_disabled_at     timestamptz,
    protected_models      jsonb NOT NULL DEFAULT '[]',
    proxy_url             text,                          -- Fernet ciphertext: it may carry a password
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    last_used_at          timestamptz
);

-- OAuth state. Both tokens are Fernet ciphertexts (antigravityd.store.crypto), never plain text.
CREATE TABLE tokens (
    account_id     uuid PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    refresh_token  text NOT NULL,
    access_token   text,
    expires_at     timestamptz,
    project_id     text,
    project_source text CHECK (project_source IN ('upstream', 'fallback')),
    updated_at     timestamptz NOT NULL
);

CREATE TABLE quotas (
    account_id uuid PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    forbidden  boolean NOT NULL DEFAULT false,
    tier       text,
    models     jsonb NOT NULL DEFAULT '{}',  -- {"model": {"remaining_fraction": 0.5, "reset_time": "RFC3339"}}
    fetched_at timestamptz NOT NULL
);

-- Append-only audit log, written in the same transaction as the change it describes. It survives the
-- account: the FK nulls out on delete and the email stays. Never holds a secret.
CREATE TABLE account_events (
    id         bigserial PRIMARY KEY,
    account_id uuid REFERENCES accounts (id) ON DELETE SET NULL,
    email      text,
    kind       text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL
);
CREATE INDEX account_events_account ON account_events (account_id, id);
CREATE INDEX account_events_email ON account_events (email, id);

-- Request metadata only. No FK to accounts on purpose: a batch from the write-behind queue must never fail
-- because an account was deleted meanwhile, and history outlives accounts.
CREATE TABLE requests (
    request_id      text PRIMARY KEY,     -- duplicates from a replayed batch are ignored
    ts              timestamptz NOT NULL,
    account_id      uuid,
    account_email   text,
    dialect         text NOT NULL,
    path            text NOT NULL,
    requested_model text,
    mapped_model    text,
    status          smallint NOT NULL,
    error_class     text,
    tokens_in       integer NOT NULL DEFAULT 0,
    tokens_out      integer NOT NULL DEFAULT 0,
    tokens_cached   integer NOT NULL DEFAULT 0,
    tokens_thinking integer NOT NULL DEFAULT 0,
    latency_ms      integer NOT NULL DEFAULT 0,
    ttfb_ms         integer,
    stream          boolean NOT NULL DEFAULT false
);
CREATE INDEX requests_ts ON requests (ts);
CREATE INDEX requests_account_ts ON requests (account_id, ts);
CREATE INDEX requests_errors_ts ON requests (ts) WHERE status >= 400;

-- Totals maintained in the same statement as each request batch, so dashboard statistics read a few thousand
-- rows instead of scanning the request log. dim 'total': one row per hour; 'model' / 'account': per hour and
-- model / account id ('' = no account was chosen; label = its email); 'model_day' / 'account_day': the same per
-- UTC day (``hour`` = start of the day), so a 30-day breakdown reads days plus the hours at the window's edges.
CREATE TABLE request_rollup (
    dim             text NOT NULL CHECK (dim IN ('total', 'model', 'account', 'model_day', 'account_day')),
    hour            timestamptz NOT NULL,
    key             text NOT NULL DEFAULT '',
    label           text NOT NULL DEFAULT '',
    requests        bigint NOT NULL DEFAULT 0,
    errors          bigint NOT NULL DEFAULT 0,
    tokens_in       bigint NOT NULL DEFAULT 0,
    tokens_out      bigint NOT NULL DEFAULT 0,
    tokens_cached   bigint NOT NULL DEFAULT 0,
    tokens_thinking bigint NOT NULL DEFAULT 0,
    latency_ms_sum  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (dim, hour, key)
);

CREATE TABLE app_settings (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Model aliases, last-writer-wins between instances; a delete is a tombstone so it can propagate.
CREATE TABLE model_mappings (
    key        text PRIMARY KEY,
    target     text NOT NULL DEFAULT '',
    updated_at bigint NOT NULL,               -- epoch milliseconds: the LWW clock
    deleted    boolean NOT NULL DEFAULT false
);
CREATE INDEX model_mappings_updated ON model_mappings (updated_at);

-- Thought signatures, three lookups: by tool-call id, by session id, by thinking-content hash.
CREATE TABLE signatures (
    kind         text NOT NULL CHECK (kind IN ('tool_call', 'session', 'content')),
    key          text NOT NULL,
    signature    text NOT NULL,
    model_family text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX signatures_last_used ON signatures (kind, last_used_at);

-- Change feed: every instance LISTENs and reloads its in-memory pool. Statement-level triggers, so a batch
-- update sends one notification; last_used_at/updated_at alone do not notify (they change on every request).
CREATE FUNCTION antigravityd_notify_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('antigravityd_accounts', TG_TABLE_NAME);
    RETURN NULL;
END $$;

CREATE FUNCTION antigravityd_notify_settings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('antigravityd_settings', TG_TABLE_NAME);
    RETURN NULL;
END $$;

CREATE TRIGGER accounts_notify AFTER INSERT OR DELETE OR UPDATE OF
    email, name, tier, disabled, disabled_reason, proxy_disabled, proxy_disabled_reason, protected_models, proxy_url
    ON accounts FOR EACH STATEMENT EXECUTE FUNCTION antigravityd_notify_accounts();
CREATE TRIGGER tokens_notify AFTER INSERT OR UPDATE OR DELETE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION antigravityd_notify_accounts();
CREATE TRIGGER quotas_notify AFTER INSERT OR UPDATE OR DELETE ON quotas
    FOR EACH STATEMENT EXECUTE FUNCTION antigravityd_notify_accounts();
CREATE TRIGGER app_settings_notify AFTER INSERT OR UPDATE OR DELETE ON app_settings
    FOR EACH STATEMENT EXECUTE FUNCTION antigravityd_notify_settings();
CREATE TRIGGER model_mappings_notify AFTER INSERT OR UPDATE OR DELETE ON model_mappings
    FOR EACH STATEMENT EXECUTE FUNCTION antigravityd_notify_settings();
