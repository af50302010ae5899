CREATE TABLE endpoints (
    id            text PRIMARY KEY,
    workspace_id  text NOT NULL,
    url           text NOT NULL,
    events        text[] NOT NULL,
    description   text,
    -- Needed in clear to sign; encryption at rest is a later step.
    secret        text NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    disabled_reason text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX endpoints_workspace ON endpoints (workspace_id, id);

-- One row per domain event received from the bus; the id (evt_…) makes consuming idempotent.
CREATE TABLE events (
    id               text PRIMARY KEY,
    workspace_id     text NOT NULL,
    type             text NOT NULL,
    post_id          text NOT NULL,
    schedule_version bigint NOT NULL,
    occurred_at      timestamptz NOT NULL,
    -- The exact webhook body, built once, so every attempt sends (and signs) the same bytes.
    body             text NOT NULL,
    received_at      timestamptz NOT NULL
);

-- status: pending (due at next_attempt_at), delivered, failed.
-- A claimed delivery stays pending with a lease_id and next_attempt_at pushed to the lease's end,
-- so a sender that dies mid-attempt leaves it to be claimed again once the lease runs out.
CREATE TABLE deliveries (
    id               text PRIMARY KEY,
    event_id         text NOT NULL REFERENCES events (id),
    endpoint_id      text NOT NULL REFERENCES endpoints (id),
    workspace_id     text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempt_count    integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    lease_id         uuid,
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);

CREATE TABLE delivery_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  text NOT NULL REFERENCES deliveries (id),
    attempt      integer NOT NULL,
    attempted_at timestamptz NOT NULL,
    status_code  integer,
    latency_ms   integer NOT NULL,
    error        text
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
