-- Finds the events of a post: the consumer checks that a post's events all name one workspace.
CREATE INDEX events_post ON events (post_id);
