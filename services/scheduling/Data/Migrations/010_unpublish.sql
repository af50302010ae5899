-- Unpublish (docs/api.md#unpublish): a published target whose copy is to be removed stays `published` until its
-- platform confirms, then becomes `unpublished`. While the removal is pending it carries when it was asked for; the
-- removal is claimed with the target's lease columns, and next_attempt_at says when the reaper may send it again.
ALTER TABLE targets
    ADD COLUMN unpublish_requested_at timestamptz,
    ADD COLUMN unpublish_attempts int NOT NULL DEFAULT 0,
    ADD COLUMN unpublished_at timestamptz;

CREATE INDEX targets_unpublishing ON targets (next_attempt_at) WHERE unpublish_requested_at IS NOT NULL;
