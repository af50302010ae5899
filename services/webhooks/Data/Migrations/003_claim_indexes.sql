-- Claiming walks the endpoints with pending deliveries and takes each one's oldest due deliveries up to its cap,
-- so its cost follows the endpoints and the cap, not the backlog (ranking every pending delivery was O(backlog) a claim).
CREATE INDEX deliveries_pending ON deliveries (endpoint_id, next_attempt_at, id) WHERE status = 'pending';
-- The deliveries in flight (claimed, lease running), counted per endpoint at each claim: few, whatever the backlog.
CREATE INDEX deliveries_leased ON deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending' AND lease_id IS NOT NULL;
