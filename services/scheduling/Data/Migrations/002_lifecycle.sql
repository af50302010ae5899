-- Every change to a post or its targets bumps its revision: the ETag of GET, checked by If-Match.
ALTER TABLE posts ADD COLUMN revision bigint NOT NULL DEFAULT 1;

-- Keyset pagination of GET /posts: newest first by id (ULIDs sort by creation time).
CREATE INDEX posts_workspace_status ON posts (workspace_id, status, id);
CREATE INDEX posts_workspace_scheduled ON posts (workspace_id, scheduled_for);
CREATE INDEX targets_account ON targets (social_account_id, post_id);

-- Per-workspace rules of docs/api.md#lifecycle-rules: the publish lead and the optional cancel cutoff.
CREATE TABLE workspace_settings (
    workspace_id           text PRIMARY KEY,
    publish_lead_seconds   int NOT NULL DEFAULT 30 CHECK (publish_lead_seconds BETWEEN 0 AND 3600),
    cancel_cutoff_seconds  int NOT NULL DEFAULT 0 CHECK (cancel_cutoff_seconds BETWEEN 0 AND 86400),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- Idempotency-Key on POSTs: the first response, replayed for 24 h to the same request.
CREATE TABLE idempotency_keys (
    workspace_id   text NOT NULL,
    key            text NOT NULL,
    request_hash   bytea NOT NULL,
    status_code    int,
    content_type   text,
    location       text,
    body           bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE media (
    id            text PRIMARY KEY,
    workspace_id  text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL,
    filename      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Set when the last post using it was deleted: the janitor then removes the file, then the row.
    orphaned_at   timestamptz
);
CREATE INDEX media_workspace ON media (workspace_id, id);
CREATE INDEX media_orphaned ON media (orphaned_at) WHERE orphaned_at IS NOT NULL;

CREATE TABLE post_media (
    post_id    text NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    media_id   text NOT NULL REFERENCES media (id),
    position   int NOT NULL,
    alt_text   text,
    PRIMARY KEY (post_id, media_id)
);
CREATE INDEX post_media_media ON post_media (media_id);
