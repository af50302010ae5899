using System.Text.Json;
using Dapper;
using Npgsql;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Outbound;

namespace ScheduledPosts.Scheduling.Accounts;

/// <summary>An account's <c>status</c>.</summary>
public static class AccountStatuses
{
    public const string Active = "active";
    public const string Disconnected = "disconnected";

    /// <summary>The platform no longer honours its grant, app password or token: its due targets fail until it is connected again.</summary>
    public const string ReauthRequired = "reauth_required";
}

public sealed record SocialAccountView(string Id, string Platform, string Handle, string? DisplayName, string Status, DateTimeOffset CreatedAt);

/// <summary>An account as connecting left it: new, or one the workspace had, connected again (<paramref name="Created"/> false).</summary>
public sealed record ConnectedAccount(SocialAccountView Account, bool Created);

/// <summary>Credentials are write-only: accepted here, encrypted at rest, only ever handed to the publisher.</summary>
public sealed record ConnectAccountRequest(string? Platform, string? Handle, string? DisplayName, Dictionary<string, string>? Credentials);

/// <summary>Social accounts of a workspace: connect, list, get, disconnect (docs/api.md#resources).</summary>
public sealed class SocialAccounts(NpgsqlDataSource dataSource, CredentialProtector protector, OutboundPolicy outbound, BlueskySignIn bluesky, TimeProvider clock)
{
    private sealed record AccountRow(string Id, string Platform, string Handle, string? DisplayName, string Status, DateTime CreatedAt)
    {
        public SocialAccountView ToView() => new(Id, Platform, Handle, DisplayName, Status, new DateTimeOffset(DateTime.SpecifyKind(CreatedAt, DateTimeKind.Utc)));
    }

    private const string Columns = "id, platform, handle, display_name, status, created_at";

    /// <summary>
    /// Connects an account with pasted credentials. One that identifies itself (a Bluesky account signs in and names its
    /// DID) and that the workspace has already — disconnected, waiting to be reconnected, or active — is updated and
    /// active again, under the same id; any other is a new account.
    /// </summary>
    public async Task<ConnectedAccount> ConnectAsync(string workspaceId, ConnectAccountRequest request, CancellationToken ct = default)
    {
        if (string.IsNullOrWhiteSpace(request.Platform))
        {
            throw ApiException.Validation("platform", "platform is required.");
        }

        if (!Platforms.Known.TryGetValue(request.Platform, out var platform))
        {
            throw ApiException.Validation("platform", PlatformCatalogue.All.Any(p => p.Platform == request.Platform)
                ? $"The platform '{request.Platform}' is not supported yet. Supported: {string.Join(", ", Platforms.Known.Keys.Order())} (GET /v1/platforms)."
                : $"Unknown platform '{request.Platform}'. Supported: {string.Join(", ", Platforms.Known.Keys.Order())} (GET /v1/platforms).");
        }

        if (string.IsNullOrWhiteSpace(request.Handle) || request.Handle.Length > 255)
        {
            throw ApiException.Validation("handle", "handle is required (at most 255 characters).");
        }

        if (request.DisplayName is { Length: > 255 })
        {
            throw ApiException.Validation("displayName", "displayName must be at most 255 characters.");
        }

        var (credentials, externalId) = await ValidCredentialsAsync(platform.Platform, request.Credentials, ct);
        if (externalId is not null)
        {
            var (id, created) = await UpsertAsync(workspaceId, platform.Platform, externalId, request.Handle, request.DisplayName, credentials!, null, null, ct);
            return new ConnectedAccount(await GetAsync(workspaceId, id), created);
        }

        var row = new AccountRow(Ids.New("acc"), platform.Platform, request.Handle, request.DisplayName, AccountStatuses.Active, clock.GetUtcNow().UtcDateTime);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync("""
            INSERT INTO social_accounts (id, workspace_id, platform, handle, display_name, status, credentials, created_at)
            VALUES (@Id, @workspaceId, @Platform, @Handle, @DisplayName, @Status, @credentials, @CreatedAt)
            """, new
        {
            row.Id, workspaceId, row.Platform, row.Handle, row.DisplayName, row.Status, row.CreatedAt,
            credentials = credentials is null ? null : protector.Protect(row.Id, credentials),
        });
        return new ConnectedAccount(row.ToView(), Created: true);
    }

    /// <summary>The workspace's accounts by id: all of them, or one page and the token of the next.</summary>
    public async Task<(IReadOnlyList<SocialAccountView> Accounts, string? NextPageToken)> ListAsync(string workspaceId, PageRequest? page = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var rows = await connection.QueryAsync<AccountRow>(
            $"SELECT {Columns} FROM social_accounts WHERE workspace_id = @workspaceId AND (@after::text IS NULL OR id > @after) ORDER BY id LIMIT @limit",
            new { workspaceId, after = page?.AfterKey, limit = page is null ? (int?)null : page.Size + 1 });
        var accounts = rows.Select(r => r.ToView()).ToList();
        return page is null ? (accounts, null) : page.Cut(accounts, a => a.Id);
    }

    public async Task<SocialAccountView> GetAsync(string workspaceId, string id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var row = await connection.QuerySingleOrDefaultAsync<AccountRow>(
            $"SELECT {Columns} FROM social_accounts WHERE workspace_id = @workspaceId AND id = @id", new { workspaceId, id });
        return row?.ToView() ?? throw ApiException.NotFound("Social account");
    }

    /// <summary>Disconnects: new posts can no longer target it, and its credentials are forgotten.</summary>
    public async Task<SocialAccountView> DisconnectAsync(string workspaceId, string id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var row = await connection.QuerySingleOrDefaultAsync<AccountRow>($"""
            UPDATE social_accounts SET status = 'disconnected', credentials = NULL, refresh_token = NULL, token_expires_at = NULL
            WHERE workspace_id = @workspaceId AND id = @id
            RETURNING {Columns}
            """, new { workspaceId, id });
        return row?.ToView() ?? throw ApiException.NotFound("Social account");
    }

    /// <summary>
    /// Stores an account an OAuth grant reaches, with its tokens encrypted: a new account, or — when the workspace has
    /// this platform account already (connected before, disconnected, or waiting to be reconnected) — the same one,
    /// active again with the new tokens. Returns its id.
    /// </summary>
    public async Task<string> ConnectOAuthAsync(string workspaceId, string platform, OAuth.OAuthAccount account, OAuth.OAuthGrant grant, CancellationToken ct)
    {
        var credentials = new Dictionary<string, string>(account.Credentials) { ["accessToken"] = account.AccessToken ?? grant.AccessToken };
        // An account with a token of its own (a Facebook Page's) has nothing to refresh; the grant's tokens are the user's.
        string? refreshToken = account.AccessToken is null ? grant.RefreshToken : null;
        DateTimeOffset? expiresAt = account.AccessToken is null ? grant.ExpiresAt : null;
        var (id, _) = await UpsertAsync(workspaceId, platform, account.ExternalId, account.Handle, account.DisplayName,
            JsonSerializer.Serialize(credentials), refreshToken, expiresAt, ct);
        return id;
    }

    /// <summary>
    /// Stores the workspace's account of <paramref name="platform"/> known there as <paramref name="externalId"/>, active,
    /// with these credentials (encrypted): the one it has already, updated, or a new one. Returns its id and whether it is new.
    /// </summary>
    private async Task<(string Id, bool Created)> UpsertAsync(string workspaceId, string platform, string externalId, string handle, string? displayName,
        string credentialsJson, string? refreshToken, DateTimeOffset? expiresAt, CancellationToken ct)
    {
        for (int attempt = 0; ; attempt++)
        {
            await using var connection = await dataSource.OpenConnectionAsync(ct);
            await using var tx = await connection.BeginTransactionAsync(ct);
            string id = await connection.QuerySingleOrDefaultAsync<string>("""
                SELECT id FROM social_accounts WHERE workspace_id = @workspaceId AND platform = @platform AND external_id = @externalId FOR UPDATE
                """, new { workspaceId, platform, externalId }, tx) ?? Ids.New("acc");
            try
            {
                // xmax is 0 on a row this statement inserted, and the updating transaction's id on one it updated.
                bool created = await connection.ExecuteScalarAsync<bool>("""
                    INSERT INTO social_accounts (id, workspace_id, platform, handle, display_name, status, credentials, created_at,
                        external_id, refresh_token, token_expires_at)
                    VALUES (@id, @workspaceId, @platform, @handle, @displayName, 'active', @credentials, @now, @externalId, @refresh, @expiresAt)
                    ON CONFLICT (id) DO UPDATE SET handle = EXCLUDED.handle, display_name = EXCLUDED.display_name, status = 'active',
                        credentials = EXCLUDED.credentials, refresh_token = EXCLUDED.refresh_token, token_expires_at = EXCLUDED.token_expires_at
                    RETURNING xmax = 0
                    """, new
                {
                    id, workspaceId, platform, handle, displayName, externalId, now = clock.GetUtcNow().UtcDateTime,
                    credentials = protector.Protect(id, credentialsJson),
                    refresh = refreshToken is null ? null : protector.Protect(RefreshTokenContext(id), refreshToken),
                    expiresAt = expiresAt?.UtcDateTime,
                }, tx);
                await tx.CommitAsync(ct);
                return (id, created);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation && attempt == 0)
            {
                // Two connections of the same platform account at once; the other won: update what it made.
            }
        }
    }

    /// <summary>What an account's refresh token is encrypted for: never the publisher's, never confused with its credentials.</summary>
    public static string RefreshTokenContext(string accountId) => $"{accountId}/refresh";

    /// <summary>The decrypted credentials JSON of an account, for the publisher's claim only.</summary>
    public string CredentialsJson(string accountId, byte[]? stored)
        => stored is null ? "{}" : protector.Unprotect(accountId, stored);

    /// <summary>The credentials JSON to store, and the platform's own id of the account where signing in told it.</summary>
    private async Task<(string? Json, string? ExternalId)> ValidCredentialsAsync(string platform, Dictionary<string, string>? credentials, CancellationToken ct)
    {
        if (platform == Platforms.Bluesky)
        {
            return await BlueskyCredentialsAsync(credentials, ct);
        }

        if (platform != Platforms.Mastodon)
        {
            return (null, null); // the sandbox platform needs none
        }

        if (credentials is null
            || !credentials.TryGetValue("instanceUrl", out string? instanceUrl)
            || !Uri.TryCreate(instanceUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
        {
            throw ApiException.Validation("credentials.instanceUrl", "A Mastodon account needs credentials.instanceUrl, the instance's absolute URL.");
        }

        // The SSRF guard (docs/security.md#outbound-requests): https, no loopback, private, link-local or metadata address,
        // neither as written nor as the name resolves now; the publisher checks the addresses again on every connection.
        if ((outbound.CheckUrl(instanceUrl, "credentials.instanceUrl") ?? await outbound.CheckResolvedAsync(instanceUrl, "credentials.instanceUrl", ct)) is { } refused)
        {
            throw ApiException.Validation("credentials.instanceUrl", refused);
        }

        if (!credentials.TryGetValue("accessToken", out string? token) || string.IsNullOrWhiteSpace(token))
        {
            throw ApiException.Validation("credentials.accessToken", "A Mastodon account needs credentials.accessToken.");
        }

        return (JsonSerializer.Serialize(new Dictionary<string, string> { ["instanceUrl"] = instanceUrl, ["accessToken"] = token }), null);
    }

    /// <summary>The Bluesky account's PDS when the credentials name none: Bluesky's own, which serves its hosted accounts.</summary>
    public const string DefaultBlueskyService = "https://bsky.social";

    /// <summary>
    /// A Bluesky account signs in with an app password (Settings → Privacy and security → App passwords), never the
    /// account's own: <c>{"identifier": handle or DID, "appPassword": "…", "service": PDS URL, optional}</c>. The PDS
    /// must sign the account in with them (<see cref="BlueskySignIn"/>); its DID identifies the account. Only these
    /// fields are stored; the password is never logged or returned.
    /// </summary>
    private async Task<(string Json, string Did)> BlueskyCredentialsAsync(Dictionary<string, string>? credentials, CancellationToken ct)
    {
        if (credentials is null || !credentials.TryGetValue("identifier", out string? identifier) || string.IsNullOrWhiteSpace(identifier))
        {
            throw ApiException.Validation("credentials.identifier", "A Bluesky account needs credentials.identifier, the account's handle or DID.");
        }

        if (!credentials.TryGetValue("appPassword", out string? appPassword) || string.IsNullOrWhiteSpace(appPassword))
        {
            throw ApiException.Validation("credentials.appPassword", "A Bluesky account needs credentials.appPassword, an app password made for it.");
        }

        string service = DefaultBlueskyService;
        if (credentials.TryGetValue("service", out string? given) && given is not null)
        {
            if (!Uri.TryCreate(given, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
            {
                throw ApiException.Validation("credentials.service", "credentials.service, when given, must be the PDS's absolute URL.");
            }

            // The same SSRF guard as a Mastodon instance URL (docs/security.md#outbound-requests); the publisher checks again.
            if ((outbound.CheckUrl(given, "credentials.service") ?? await outbound.CheckResolvedAsync(given, "credentials.service", ct)) is { } refused)
            {
                throw ApiException.Validation("credentials.service", refused);
            }

            service = given;
        }

        var signedIn = await bluesky.SignInAsync(service, identifier.Trim(), appPassword, ct);
        return (JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["identifier"] = identifier.Trim(), ["appPassword"] = appPassword, ["service"] = service,
        }), signedIn.Did);
    }
}
