-- Fencing for the publisher's claims (docs/publishing.md#leases): every claim of a target gets the next epoch and is
-- remembered, so a late report from an older claim is recognised as one, and a real outcome it carries is kept.
ALTER TABLE targets ADD COLUMN claim_epoch bigint NOT NULL DEFAULT 0;

CREATE TABLE target_claims (
    lease_token  uuid PRIMARY KEY,
    target_id    text NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    epoch        bigint NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX target_claims_target ON target_claims (target_id);
