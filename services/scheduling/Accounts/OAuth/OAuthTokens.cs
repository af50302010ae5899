using System.Text.Json;
using Dapper;
using Duende.IdentityModel.Client;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Scheduling.Outbox;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Accounts.OAuth;

/// <summary>
/// Keeps OAuth accounts' access tokens valid (docs/platforms.md#tokens): refreshed ahead of their expiry by
/// <see cref="TokenRefresher"/>, and when a platform refuses one at publish time. A refresh the platform refuses
/// (<c>invalid_grant</c>: revoked, or the refresh token expired) — or a refused token with nothing to refresh it
/// with — marks the account <c>reauth_required</c>, forgets its tokens and emits <c>account.reauth_required</c>; so does
/// an app password or a pasted token the platform refuses, which nothing here can renew.
/// One account's refreshes are serialised by its row lock, so a rotating refresh token is never spent twice.
/// </summary>
public sealed partial class OAuthTokens(
    NpgsqlDataSource dataSource,
    OAuthPlatforms platforms,
    OAuthConnections connections,
    CredentialProtector protector,
    OutboxScheduler outbox,
    TimeProvider clock,
    ILogger<OAuthTokens> logger)
{
    public abstract record Outcome;

    /// <summary>The account's current credentials JSON, with a token fresher than the one refused.</summary>
    public sealed record Refreshed(string CredentialsJson) : Outcome;

    /// <summary>The account must be connected again; nothing can be sent for it.</summary>
    public sealed record ReauthRequired : Outcome;

    /// <summary>Nothing to refresh: not an OAuth account, not active, or its token is not due.</summary>
    public sealed record NotRefreshed : Outcome;

    /// <summary>The platform could not be asked now (down, timing out, or the app is no longer configured); try later.</summary>
    public sealed record Unavailable(string Reason) : Outcome;

    private sealed record AccountRow(string Id, string WorkspaceId, string Platform, string Handle, string? DisplayName, string Status,
        DateTime CreatedAt, byte[]? Credentials, byte[]? RefreshToken, DateTime? TokenExpiresAt);

    /// <summary>
    /// The platform refused the account's credentials at publish time. An OAuth account's token is refreshed (see
    /// <see cref="RefreshAsync"/>); an app password or a pasted access token cannot be renewed here, so the account is
    /// marked <c>reauth_required</c> until it is connected again with new credentials.
    /// </summary>
    public Task<Outcome> RefusedAsync(string accountId, string? refusedAccessToken, CancellationToken ct)
        => RefreshAsync(accountId, refusedAccessToken, expiringBefore: null, refused: true, ct);

    /// <summary>
    /// Refreshes the account's access token: when the platform refused <paramref name="refusedAccessToken"/> (unless
    /// another refresh replaced it meanwhile), or when it expires before <paramref name="expiringBefore"/>.
    /// </summary>
    public Task<Outcome> RefreshAsync(string accountId, string? refusedAccessToken, DateTimeOffset? expiringBefore, CancellationToken ct)
        => RefreshAsync(accountId, refusedAccessToken, expiringBefore, refused: refusedAccessToken is not null, ct);

    private async Task<Outcome> RefreshAsync(string accountId, string? refusedAccessToken, DateTimeOffset? expiringBefore, bool refused, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<AccountRow>("""
            SELECT id, workspace_id, platform, handle, display_name, status, created_at, credentials, refresh_token, token_expires_at
            FROM social_accounts WHERE id = @accountId FOR UPDATE
            """, new { accountId }, tx);
        if (row is null || row.Status == AccountStatuses.Disconnected)
        {
            return new NotRefreshed();
        }

        if (!platforms.UsesOAuth(row.Platform))
        {
            if (row.Status == AccountStatuses.ReauthRequired)
            {
                return new ReauthRequired();
            }

            if (refused && PlatformCatalogue.HoldsCredentials(row.Platform))
            {
                await MarkReauthRequiredAsync(tx, row, $"{row.Platform} refused the account's credentials.", ct);
                return new ReauthRequired();
            }

            return new NotRefreshed();
        }

        if (row.Status == AccountStatuses.ReauthRequired || row.Credentials is null)
        {
            return new ReauthRequired();
        }

        var credentials = JsonSerializer.Deserialize<Dictionary<string, string>>(protector.Unprotect(row.Id, row.Credentials))!;
        if (refusedAccessToken is not null && credentials.GetValueOrDefault("accessToken") != refusedAccessToken)
        {
            return new Refreshed(JsonSerializer.Serialize(credentials)); // refreshed meanwhile
        }

        if (refusedAccessToken is null && (row.TokenExpiresAt is null || Utc(row.TokenExpiresAt.Value) > expiringBefore))
        {
            return new NotRefreshed();
        }

        if (row.RefreshToken is null)
        {
            await MarkReauthRequiredAsync(tx, row, "The platform refused the account's token and gave no refresh token.", ct);
            return new ReauthRequired();
        }

        if (platforms.Find(row.Platform) is not { } configured)
        {
            return new Unavailable($"This deployment has no {row.Platform} app configured.");
        }

        TokenResponse response;
        using (var http = connections.Http())
        {
            response = await http.RequestRefreshTokenAsync(new RefreshTokenRequest
            {
                Address = configured.Endpoints.TokenUrl.ToString(),
                ClientId = configured.Client.ClientId,
                ClientSecret = configured.Client.ClientSecret,
                ClientCredentialStyle = OAuthConnections.Style(configured.Endpoints),
                RefreshToken = protector.Unprotect(SocialAccounts.RefreshTokenContext(row.Id), row.RefreshToken),
            }, ct);
        }

        if (response.IsError)
        {
            // RFC 6749 §5.2: invalid_grant is the grant itself refused (revoked, expired, issued to another client); X answers
            // a revoked or spent refresh token with a 400 invalid_request. Anything else — a 5xx, a timeout, our app
            // misconfigured (invalid_client) — is not the user's to fix, and is tried again later.
            if (response.ErrorType == ResponseErrorType.Protocol
                && (response.Error == "invalid_grant" || (response.Error == "invalid_request" && response.HttpStatusCode == System.Net.HttpStatusCode.BadRequest)))
            {
                await MarkReauthRequiredAsync(tx, row, $"{row.Platform} refused the refresh: {response.ErrorDescription ?? response.Error}", ct);
                return new ReauthRequired();
            }

            Log.RefreshFailed(logger, row.Platform, row.Id, response.Error ?? response.HttpErrorReason ?? "no answer");
            return new Unavailable($"{row.Platform}'s token endpoint did not refresh the token ({response.Error ?? response.HttpErrorReason ?? "no answer"}).");
        }

        var grant = OAuthConnections.GrantOf(response, row.Platform, clock.GetUtcNow());
        credentials["accessToken"] = grant.AccessToken;
        string json = JsonSerializer.Serialize(credentials);
        await connection.ExecuteAsync("""
            UPDATE social_accounts SET credentials = @credentials, refresh_token = COALESCE(@refresh, refresh_token), token_expires_at = @expiresAt
            WHERE id = @Id
            """, new
        {
            row.Id,
            credentials = protector.Protect(row.Id, json),
            // A platform that rotates refresh tokens sends a new one; one that does not keeps the old one valid.
            refresh = grant.RefreshToken is null ? null : protector.Protect(SocialAccounts.RefreshTokenContext(row.Id), grant.RefreshToken),
            expiresAt = grant.ExpiresAt?.UtcDateTime,
        }, tx);
        await tx.CommitAsync(ct);
        Log.Refreshed(logger, row.Platform, row.Id, grant.ExpiresAt);
        return new Refreshed(json);
    }

    /// <summary>The accounts whose tokens expire before <paramref name="before"/> and can be refreshed, soonest first.</summary>
    public async Task<IReadOnlyList<string>> DueAsync(DateTimeOffset before, int batch, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return [.. await connection.QueryAsync<string>($"""
            SELECT id FROM social_accounts
            WHERE status = '{AccountStatuses.Active}' AND refresh_token IS NOT NULL AND token_expires_at < @before
            ORDER BY token_expires_at LIMIT @batch
            """, new { before = before.UtcDateTime, batch })];
    }

    /// <summary>Forgets connections started and never completed (their states expired a day ago).</summary>
    public async Task<int> ForgetExpiredAuthorizationsAsync(CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.ExecuteAsync("DELETE FROM oauth_authorizations WHERE expires_at < clock_timestamp() - interval '1 day'");
    }

    private async Task MarkReauthRequiredAsync(NpgsqlTransaction tx, AccountRow row, string reason, CancellationToken ct)
    {
        await tx.Connection!.ExecuteAsync($"""
            UPDATE social_accounts SET status = '{AccountStatuses.ReauthRequired}', credentials = NULL, refresh_token = NULL, token_expires_at = NULL
            WHERE id = @Id
            """, new { row.Id }, tx);
        var view = new SocialAccountView(row.Id, row.Platform, row.Handle, row.DisplayName, AccountStatuses.ReauthRequired, Utc(row.CreatedAt));
        await outbox.PublishAccountEventAsync(tx, new AccountReauthRequired
        {
            EventId = Ids.New("evt"),
            Type = "account.reauth_required",
            WorkspaceId = row.WorkspaceId,
            AccountId = row.Id,
            OccurredAt = clock.GetUtcNow(),
            Data = JsonSerializer.SerializeToElement(view, JsonDefaults.Options),
        });
        await tx.CommitAsync(ct);
        Log.ReauthRequired(logger, row.Platform, row.Id, row.WorkspaceId, reason);
    }

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Refreshed the {Platform} token of account {AccountId}; it expires at {ExpiresAt}")]
        public static partial void Refreshed(ILogger logger, string platform, string accountId, DateTimeOffset? expiresAt);

        [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Could not refresh the {Platform} token of account {AccountId} now: {Error}")]
        public static partial void RefreshFailed(ILogger logger, string platform, string accountId, string error);

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "The {Platform} account {AccountId} of workspace {WorkspaceId} must be connected again: {Reason}")]
        public static partial void ReauthRequired(ILogger logger, string platform, string accountId, string workspaceId, string reason);
    }
}
