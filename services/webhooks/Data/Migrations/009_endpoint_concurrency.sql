-- Adaptive concurrency per endpoint (docs/api.md#delivery-and-retries): how many attempts the endpoint has shown it
-- takes at once, learned from its answers and shared by every replica (NULL: nothing learned yet, so
-- Webhooks:InitialConcurrencyPerEndpoint), and when it was last lowered, so the attempts already in flight then
-- (answering from the same overload) do not lower it again.
ALTER TABLE endpoints
    ADD COLUMN concurrency_limit      int,
    ADD COLUMN concurrency_lowered_at timestamptz;
