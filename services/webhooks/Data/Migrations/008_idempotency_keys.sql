-- idempotency-key metadata on the gRPC API: the first answer, replayed for 24 h to the same request (as the scheduling schema's).
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
