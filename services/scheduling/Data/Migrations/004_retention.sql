-- Retention (docs/operations.md#retention): what the sweeper looks for, found through an index rather than a table scan.
-- Media no post links to yet: candidates to orphan once older than Retention:UnattachedMedia.
CREATE INDEX media_unattached ON media (created_at) WHERE orphaned_at IS NULL;
-- Sent outbox rows, removed after Retention:SentOutbox.
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
-- Audit entries, removed after Retention:AuditEntries.
CREATE INDEX post_audit_at ON post_audit (at);
-- A workspace's stored bytes, summed for its media quota on each upload.
CREATE INDEX media_workspace_live ON media (workspace_id) INCLUDE (size_bytes) WHERE orphaned_at IS NULL;
