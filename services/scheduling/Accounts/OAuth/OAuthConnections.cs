using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Duende.IdentityModel.Client;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Accounts.OAuth;

/// <param name="Platform">A platform that connects with OAuth (<c>GET /v1/platforms</c>: <c>connect: oauth2</c>).</param>
/// <param name="RedirectUri">Where the user's browser is sent when the connection ends: https, or http on a loopback host.</param>
/// <param name="State">Anything the caller wants back on <paramref name="RedirectUri"/> as <c>state</c> (at most 512 characters).</param>
public sealed record StartConnectRequest(string? Platform, string? RedirectUri, string? State = null);

/// <param name="AuthorizationUrl">Send the user's browser here; the platform asks them to grant access.</param>
/// <param name="ExpiresAt">The connection must be completed before this time.</param>
public sealed record StartConnectView(string AuthorizationUrl, DateTimeOffset ExpiresAt);

/// <summary>
/// Connecting accounts with OAuth 2.0 (RFC 6749 authorization code, RFC 7636 PKCE where the platform takes it):
/// <see cref="StartAsync"/> answers the platform's authorization URL; the platform sends the browser to the callback,
/// where <see cref="CompleteAsync"/> exchanges the code, stores the accounts the grant reaches with their tokens
/// encrypted, and sends the browser on to the caller's redirect URI. The <c>state</c> the platform carries is this
/// service's: a random id signed with a key derived from the credentials key, naming a row that binds it to the
/// workspace, the API key, the platform and the redirect URI; it is used once and expires.
/// </summary>
public sealed partial class OAuthConnections(
    NpgsqlDataSource dataSource,
    OAuthPlatforms platforms,
    SocialAccounts accounts,
    CredentialProtector protector,
    IHttpClientFactory httpClients,
    IOptions<OAuthOptions> options,
    TimeProvider clock,
    ILogger<OAuthConnections> logger)
{
    public const string HttpClientName = "oauth";
    private const int MaxRedirectUriLength = 2048;
    private const int MaxClientStateLength = 512;

    private readonly byte[] _stateKey = protector.DeriveKey("oauth-state");

    private sealed record Authorization(string Id, string WorkspaceId, string KeyId, string Platform, string RedirectUri, string? ClientState,
        byte[] CodeVerifier, DateTime ExpiresAt, DateTime? UsedAt);

    public async Task<StartConnectView> StartAsync(InternalIdentity caller, StartConnectRequest request, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.Platform))
        {
            throw ApiException.Validation("platform", "platform is required.");
        }

        var configured = platforms.Get(request.Platform);
        var redirect = CheckRedirectUri(request.RedirectUri);
        if (request.State is { Length: > MaxClientStateLength })
        {
            throw ApiException.Validation("state", $"state must be at most {MaxClientStateLength} characters.");
        }

        string id = Ids.New("oauth");
        string verifier = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var expires = clock.GetUtcNow() + options.Value.StateLifetime;
        var row = new Authorization(id, caller.WorkspaceId, caller.KeyId, configured.Platform.Platform, redirect.ToString(), request.State,
            protector.Protect(id, verifier), expires.UtcDateTime, null);
        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        {
            await connection.ExecuteAsync("""
                INSERT INTO oauth_authorizations (id, workspace_id, key_id, platform, redirect_uri, client_state, code_verifier, expires_at)
                VALUES (@Id, @WorkspaceId, @KeyId, @Platform, @RedirectUri, @ClientState, @CodeVerifier, @ExpiresAt)
                """, row);
        }

        var endpoints = configured.Endpoints;
        string url = new RequestUrl(endpoints.AuthorizeUrl.ToString()).CreateAuthorizeUrl(
            clientId: configured.Client.ClientId,
            responseType: "code",
            scope: string.Join(endpoints.ScopeSeparator, endpoints.Scopes),
            redirectUri: options.Value.CallbackUrl!.ToString(),
            state: SignedState(row),
            codeChallenge: endpoints.Pkce ? Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))) : null,
            codeChallengeMethod: endpoints.Pkce ? "S256" : null);
        return new StartConnectView(url, expires);
    }

    /// <summary>
    /// The platform sent the browser back. Returns where to send it on: the caller's redirect URI with
    /// <c>accountId</c> (and <c>accountIds</c>, all the accounts the grant reaches), or with <c>error</c> and
    /// <c>error_description</c>. A state that is not ours, used, or expired is a 400: there is nowhere trusted to go.
    /// </summary>
    public async Task<Uri> CompleteAsync(string? code, string? state, string? error, string? errorDescription, CancellationToken ct)
    {
        var authorization = await ConsumeAsync(state, ct);
        var back = new Dictionary<string, string?> { ["state"] = authorization.ClientState };
        if (error is not null || string.IsNullOrEmpty(code))
        {
            // RFC 6749 §4.1.2.1: the user refused (access_denied) or the platform could not ask them.
            Log.Refused(logger, authorization.Platform, authorization.WorkspaceId, error ?? "no code");
            return Redirect(authorization, back, error == "access_denied" ? "access_denied" : "oauth_failed",
                $"{authorization.Platform} did not grant access: {Describe(error, errorDescription)}");
        }

        var configured = platforms.Find(authorization.Platform);
        if (configured is null)
        {
            return Redirect(authorization, back, "oauth_failed", $"This deployment no longer has a {authorization.Platform} app configured.");
        }

        try
        {
            using var http = Http();
            var grant = await ExchangeAsync(http, configured, code, protector.Unprotect(authorization.Id, authorization.CodeVerifier), ct);
            var reached = await configured.Platform.AccountsAsync(http, configured.Endpoints, configured.Client, grant, ct);
            if (reached.Count == 0)
            {
                return Redirect(authorization, back, "no_accounts", $"The grant reaches no {authorization.Platform} account this service can post for.");
            }

            var ids = new List<string>();
            foreach (var account in reached)
            {
                ids.Add(await accounts.ConnectOAuthAsync(authorization.WorkspaceId, authorization.Platform, account, grant, ct));
            }

            Log.Connected(logger, authorization.Platform, authorization.WorkspaceId, authorization.KeyId, string.Join(",", ids));
            back["accountId"] = ids[0];
            back["accountIds"] = string.Join(",", ids);
            return new Uri(QueryHelpers.AddQueryString(authorization.RedirectUri, back));
        }
        catch (Exception e) when (e is OAuthException or HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            Log.Failed(logger, e, authorization.Platform, authorization.WorkspaceId);
            return Redirect(authorization, back, "oauth_failed", e is OAuthException ? e.Message : $"{authorization.Platform} did not answer in time or at all.");
        }
    }

    /// <summary>An HTTP client for a platform's token and account endpoints (the platforms are the deployment's choice, not a caller's).</summary>
    public HttpClient Http()
    {
        var http = httpClients.CreateClient(HttpClientName);
        http.Timeout = options.Value.Timeout;
        return http;
    }

    private async Task<OAuthGrant> ExchangeAsync(HttpClient http, ConfiguredOAuthPlatform configured, string code, string verifier, CancellationToken ct)
    {
        var endpoints = configured.Endpoints;
        var response = await http.RequestAuthorizationCodeTokenAsync(new AuthorizationCodeTokenRequest
        {
            Address = endpoints.TokenUrl.ToString(),
            ClientId = configured.Client.ClientId,
            ClientSecret = configured.Client.ClientSecret,
            ClientCredentialStyle = Style(endpoints),
            Code = code,
            // The token request repeats the authorization request's redirect URI (RFC 6749 §4.1.3): the callback's.
            RedirectUri = options.Value.CallbackUrl!.ToString(),
            CodeVerifier = endpoints.Pkce ? verifier : null,
        }, ct);
        return GrantOf(response, configured.Platform.Platform, clock.GetUtcNow());
    }

    public static ClientCredentialStyle Style(OAuthEndpoints endpoints) => endpoints.ClientAuthentication == OAuthClientAuthentication.RequestBody
        ? ClientCredentialStyle.PostBody
        : ClientCredentialStyle.AuthorizationHeader;

    /// <summary>The grant a token response holds; an <see cref="OAuthException"/> saying why when it holds none.</summary>
    public static OAuthGrant GrantOf(TokenResponse response, string platform, DateTimeOffset now)
    {
        if (response.IsError || string.IsNullOrEmpty(response.AccessToken))
        {
            throw new OAuthException($"{platform}'s token endpoint refused: {Describe(response.Error, response.ErrorDescription)}");
        }

        return new OAuthGrant(response.AccessToken, response.RefreshToken is { Length: > 0 } refresh ? refresh : null,
            response.ExpiresIn > 0 ? now.AddSeconds(response.ExpiresIn) : null, response.Scope);
    }

    private static string Describe(string? error, string? description)
        => PlatformText(description is { Length: > 0 } ? $"{error} ({description})" : error ?? "no reason given");

    // What a platform says goes back to a browser and into our logs: printable, short.
    private static string PlatformText(string text)
    {
        var clean = new string([.. text.Where(c => !char.IsControl(c))]);
        return clean.Length <= 300 ? clean : clean[..300] + "…";
    }

    private static Uri Redirect(Authorization authorization, Dictionary<string, string?> back, string error, string description)
    {
        back["error"] = error;
        back["error_description"] = description;
        return new Uri(QueryHelpers.AddQueryString(authorization.RedirectUri, back));
    }

    private async Task<Authorization> ConsumeAsync(string? state, CancellationToken ct)
    {
        const string Refused = "This connection link is not valid: start again with POST /v1/social-accounts/connect.";
        int dot = state?.LastIndexOf('.') ?? -1;
        if (state is null || dot <= 0 || state.Length > 200)
        {
            throw ApiException.BadRequest(Refused);
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<Authorization>("""
            SELECT id, workspace_id, key_id, platform, redirect_uri, client_state, code_verifier, expires_at, used_at
            FROM oauth_authorizations WHERE id = @id FOR UPDATE
            """, new { id = state[..dot] }, tx);
        // The signature first: a state that is not ours changes nothing, not even the row it names.
        if (row is null || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(SignedState(row)), Encoding.ASCII.GetBytes(state)))
        {
            throw ApiException.BadRequest(Refused);
        }

        if (row.UsedAt is not null)
        {
            throw ApiException.BadRequest("This connection link was used already: start again with POST /v1/social-accounts/connect.");
        }

        if (DateTime.SpecifyKind(row.ExpiresAt, DateTimeKind.Utc) <= clock.GetUtcNow().UtcDateTime)
        {
            throw ApiException.BadRequest("This connection link expired: start again with POST /v1/social-accounts/connect.");
        }

        // Used at most once: under the row lock, whoever marks it first has it; a second callback finds it used.
        await connection.ExecuteAsync("UPDATE oauth_authorizations SET used_at = clock_timestamp() WHERE id = @Id", new { row.Id }, tx);
        await tx.CommitAsync(ct);
        return row;
    }

    // id.signature: HMAC-SHA256 over whom and what the row binds it to, so a state is only ever good for what it was
    // issued for; its expiry and single use are the row's.
    private string SignedState(Authorization row)
    {
        string bound = string.Join('\n', row.Id, row.WorkspaceId, row.KeyId, row.Platform, row.RedirectUri, row.ClientState ?? "");
        return $"{row.Id}.{Base64Url.EncodeToString(HMACSHA256.HashData(_stateKey, Encoding.UTF8.GetBytes(bound)))}";
    }

    private static Uri CheckRedirectUri(string? value)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Length > MaxRedirectUriLength
            || !Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0
            || !(uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback)))
        {
            throw ApiException.Validation("redirectUri",
                $"redirectUri must be an absolute https URL (http only on a loopback host), without a fragment, of at most {MaxRedirectUriLength} characters.");
        }

        return uri;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Connected {Platform} accounts {AccountIds} in workspace {WorkspaceId} (key {KeyId})")]
        public static partial void Connected(ILogger logger, string platform, string workspaceId, string keyId, string accountIds);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "{Platform} did not grant access in workspace {WorkspaceId}: {Error}")]
        public static partial void Refused(ILogger logger, string platform, string workspaceId, string error);

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Connecting a {Platform} account in workspace {WorkspaceId} failed")]
        public static partial void Failed(ILogger logger, Exception exception, string platform, string workspaceId);
    }
}
