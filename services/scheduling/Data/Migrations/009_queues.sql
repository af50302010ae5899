-- Posting queues (docs/api.md#posting-queues): an account's weekly slots in an IANA zone. The row is also the lock
-- that queued creates of the account take (SELECT ... FOR UPDATE), so two of them never pick the same free slot.
CREATE TABLE account_queues (
    social_account_id text PRIMARY KEY REFERENCES social_accounts (id) ON DELETE CASCADE,
    workspace_id      text NOT NULL,
    timezone          text NOT NULL,
    slots             jsonb NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);

