-- Secret rotation and at-rest encryption, endpoint health, deletion, test events, redelivery.

-- secret holds "aesgcm1:…" when Webhooks:SecretKey is configured (plain "whsec_…" otherwise, or from before).
-- During a rotation the previous secret signs too, until previous_secret_expires_at.
-- failing_since: the first failed attempt since the last 2xx; failing for too long disables the endpoint.
ALTER TABLE endpoints
    ADD COLUMN previous_secret            text,
    ADD COLUMN previous_secret_expires_at timestamptz,
    ADD COLUMN failing_since              timestamptz;

-- webhook.test events belong to no post.
ALTER TABLE events
    ALTER COLUMN post_id DROP NOT NULL,
    ALTER COLUMN schedule_version DROP NOT NULL;

-- Deleting an endpoint deletes its deliveries and their attempts.
-- round_attempts: attempts since the delivery was created or last redelivered; it indexes the retry schedule.
ALTER TABLE deliveries
    DROP CONSTRAINT deliveries_endpoint_id_fkey,
    ADD CONSTRAINT deliveries_endpoint_id_fkey FOREIGN KEY (endpoint_id) REFERENCES endpoints (id) ON DELETE CASCADE,
    ADD COLUMN round_attempts integer NOT NULL DEFAULT 0;
UPDATE deliveries SET round_attempts = attempt_count;

ALTER TABLE delivery_attempts
    DROP CONSTRAINT delivery_attempts_delivery_id_fkey,
    ADD CONSTRAINT delivery_attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES deliveries (id) ON DELETE CASCADE;

-- An endpoint's deliveries, newest first, and filtered by status.
DROP INDEX deliveries_endpoint;
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, created_at, id);
CREATE INDEX deliveries_endpoint_status ON deliveries (endpoint_id, status, created_at, id);
