-- Account events (account.reauth_required) are about an account, not a post.
ALTER TABLE events ADD COLUMN account_id text;
-- Finds the events of an account: the consumer checks that an account's events all name one workspace.
CREATE INDEX events_account ON events (account_id);
