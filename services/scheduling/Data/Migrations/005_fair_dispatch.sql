-- Fair shares between workspaces (docs/publishing.md#fair-shares): a TargetDue message names its workspace and target, so
-- the dispatcher can send due targets in turns across workspaces and keep each workspace's in-flight targets under a cap.
-- A sent message is in flight until a publisher picks it up (its claim, granted or not), then while the target publishes.
ALTER TABLE outbox ADD COLUMN workspace_id text, ADD COLUMN target_id text, ADD COLUMN picked_at timestamptz;

UPDATE outbox o SET target_id = o.payload->>'targetId', workspace_id = p.workspace_id
FROM posts p
WHERE o.message_type = 'TargetDue' AND p.id = o.post_id;

-- A claim marks the sent messages of its target picked up; a cancel takes back the unsent one.
CREATE INDEX outbox_target ON outbox (target_id) WHERE target_id IS NOT NULL AND picked_at IS NULL;
-- Sent and not yet picked up: the messages waiting in the bus, counted per workspace on every dispatcher pass.
CREATE INDEX outbox_in_flight ON outbox (sent_at) INCLUDE (workspace_id) WHERE target_id IS NOT NULL AND picked_at IS NULL;
-- Targets being published: counted per workspace on every pass, and walked by the lease reaper.
CREATE INDEX targets_publishing ON targets (lease_expires_at) WHERE status = 'publishing';
