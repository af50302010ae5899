-- Retention (docs/operations.md#retention): what the sweeper looks for, found through an index rather than a table scan.
-- Finished deliveries, removed with their attempts after Webhooks:Retention:FinishedDeliveries.
CREATE INDEX deliveries_finished ON deliveries (updated_at) WHERE status <> 'pending';
-- Attempts, trimmed after Webhooks:Retention:Attempts.
CREATE INDEX delivery_attempts_at ON delivery_attempts (attempted_at);
-- Events, removed once no delivery refers to them and older than Webhooks:Retention:EventsWithoutDeliveries.
CREATE INDEX events_received ON events (received_at);
