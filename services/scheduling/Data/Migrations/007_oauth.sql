-- Accounts connected with OAuth 2.0 (docs/platforms.md): a started connection, bound to the workspace, the API key,
-- the platform and the caller's redirect URI; used once, then forgotten a day after it expired.
CREATE TABLE oauth_authorizations (
    id             text PRIMARY KEY,
    workspace_id   text NOT NULL,
    key_id         text NOT NULL,
    platform       text NOT NULL,
    redirect_uri   text NOT NULL,
    client_state   text,
    code_verifier  bytea NOT NULL,          -- PKCE, encrypted with the credentials key
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);
CREATE INDEX oauth_authorizations_expiry ON oauth_authorizations (expires_at);

-- The platform's id of the account, so connecting it again updates the same account; the refresh token (encrypted,
-- never handed to the publisher) and when the access token expires.
ALTER TABLE social_accounts
    ADD COLUMN external_id      text,
    ADD COLUMN refresh_token    bytea,
    ADD COLUMN token_expires_at timestamptz;
CREATE UNIQUE INDEX social_accounts_external ON social_accounts (workspace_id, platform, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX social_accounts_token_expiry ON social_accounts (token_expires_at) WHERE refresh_token IS NOT NULL;
