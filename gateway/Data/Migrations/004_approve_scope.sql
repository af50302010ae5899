-- The approval step got a scope of its own (posts:approve): owner and admin keys that could write posts hold it, as
-- keys of those roles made from now on do; editors never do, so their scheduling waits for approval where it is on.
UPDATE api_keys SET scopes = scopes || ARRAY['posts:approve']
WHERE role IN ('owner', 'admin') AND 'posts:write' = ANY (scopes) AND NOT 'posts:approve' = ANY (scopes);
