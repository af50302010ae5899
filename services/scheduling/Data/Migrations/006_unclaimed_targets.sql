-- Due targets whose message never led to a claim (it went to the publisher's error queue after its retries, or was lost)
-- are sent again (docs/publishing.md#lost-messages): found from the scheduled targets long past due, each checked against
-- its own messages.
CREATE INDEX targets_scheduled_due ON targets (next_attempt_at) WHERE status = 'scheduled';
CREATE INDEX outbox_of_target ON outbox (target_id, sent_at) WHERE target_id IS NOT NULL;
