-- Which keys the gateway made from Bootstrap:Key, so a new bootstrap key retires the one before it. Keys made before
-- this marker existed are recognised the way the bootstrap made them: an owner key named 'bootstrap' in 'default'.
ALTER TABLE api_keys ADD COLUMN bootstrap boolean NOT NULL DEFAULT false;

UPDATE api_keys k SET bootstrap = true
FROM workspaces w
WHERE w.id = k.workspace_id AND w.name = 'default' AND k.name = 'bootstrap' AND k.role = 'owner';
