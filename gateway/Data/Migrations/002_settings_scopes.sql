-- The scheduling settings got scopes of their own (they were posts:read/write). Keys made before keep what they could
-- do, except that editors no longer change the workspace's settings: reading follows posts:read, writing stays with
-- owner and admin keys that could write posts.
UPDATE api_keys SET scopes = scopes || ARRAY['settings:read']
WHERE 'posts:read' = ANY (scopes) AND NOT 'settings:read' = ANY (scopes);

UPDATE api_keys SET scopes = scopes || ARRAY['settings:write']
WHERE role IN ('owner', 'admin') AND 'posts:write' = ANY (scopes) AND NOT 'settings:write' = ANY (scopes);
