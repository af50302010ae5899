-- Each dispatcher pass takes the first due messages of each workspace's turn and of the domain events' queue by index,
-- instead of ranking every due message (docs/publishing.md#fair-shares). In a burst of 10,000 held-back targets, ranking
-- them all cost 30-40 ms of PostgreSQL CPU per pass; walking these indexes costs what the pass takes, plus one entry per
-- due target to learn which workspaces have any.
-- The workspaces with due targets: an index-only walk of the due part.
CREATE INDEX outbox_due_targets ON outbox (due_at) INCLUDE (workspace_id) WHERE sent_at IS NULL AND workspace_id IS NOT NULL;
-- One workspace's next turns, in order.
CREATE INDEX outbox_due_by_workspace ON outbox (workspace_id, due_at, id) WHERE sent_at IS NULL AND workspace_id IS NOT NULL;
-- The domain events' queue, in order, without walking past the targets held back for their workspace's share.
CREATE INDEX outbox_due_events ON outbox (due_at, id) WHERE sent_at IS NULL AND workspace_id IS NULL;
