CREATE TABLE social_accounts (
    id            text PRIMARY KEY,
    workspace_id  text NOT NULL,
    platform      text NOT NULL,
    handle        text NOT NULL,
    display_name  text,
    status        text NOT NULL DEFAULT 'active',
    credentials   bytea,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX social_accounts_workspace ON social_accounts (workspace_id, id);

CREATE TABLE posts (
    id                 text PRIMARY KEY,
    workspace_id       text NOT NULL,
    status             text NOT NULL,
    caption            text NOT NULL,
    timezone           text,
    scheduled_for      timestamptz,
    published_at       timestamptz,
    cancelled_at       timestamptz,
    cancel_reason      text,
    schedule_version   bigint NOT NULL DEFAULT 0,
    metadata           jsonb NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    created_by_key_id  text
);
CREATE INDEX posts_workspace ON posts (workspace_id, id);

CREATE TABLE targets (
    id                 text PRIMARY KEY,
    post_id            text NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    social_account_id  text NOT NULL REFERENCES social_accounts (id),
    platform           text NOT NULL,
    position           int NOT NULL,
    status             text NOT NULL,
    caption_override   text,
    first_comment      text,
    published_at       timestamptz,
    external_post_id   text,
    external_url       text,
    error_code         text,
    error_message      text,
    attempt_count      int NOT NULL DEFAULT 0,
    last_attempt_at    timestamptz,
    lease_token        uuid,
    lease_expires_at   timestamptz,
    -- When this target may be claimed: the schedule, or the next retry. A message arriving early is dropped.
    next_attempt_at    timestamptz,
    UNIQUE (post_id, social_account_id)
);
CREATE INDEX targets_post ON targets (post_id, position);

-- The audit log: no foreign key, so a deleted post keeps its tombstone.
CREATE TABLE post_audit (
    id            bigserial PRIMARY KEY,
    post_id       text NOT NULL,
    workspace_id  text NOT NULL,
    action        text NOT NULL,
    actor_key_id  text,
    reason        text,
    old_time      timestamptz,
    new_time      timestamptz,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX post_audit_post ON post_audit (post_id, id);

-- The durable schedule and transactional outbox (docs/architecture.md#design-decisions): every bus message, due now or later,
-- written in the transaction of the change that caused it; the dispatcher sends it when due.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    message_type  text NOT NULL,
    payload       jsonb NOT NULL,
    due_at        timestamptz NOT NULL,
    post_id       text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz
);
CREATE INDEX outbox_pending ON outbox (due_at) WHERE sent_at IS NULL;
CREATE INDEX outbox_pending_post ON outbox (post_id) WHERE sent_at IS NULL;
