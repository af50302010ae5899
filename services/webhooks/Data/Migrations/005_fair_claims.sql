-- The deliveries in flight (claimed, lease running), counted per workspace at each claim against
-- Webhooks:MaxConcurrentPerWorkspace: few, whatever the backlog.
CREATE INDEX deliveries_leased_workspace ON deliveries (workspace_id, next_attempt_at) WHERE status = 'pending' AND lease_id IS NOT NULL;
