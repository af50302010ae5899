-- The approval step (docs/api.md#approval): when on, a post scheduled by a key without posts:approve waits in
-- needs_approval, off the schedule, until an owner or admin approves or declines it.
ALTER TABLE workspace_settings ADD COLUMN approval_required boolean NOT NULL DEFAULT false;
