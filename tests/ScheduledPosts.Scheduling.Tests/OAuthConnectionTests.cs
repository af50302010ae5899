using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Scheduling.Accounts;
using ScheduledPosts.Scheduling.Accounts.OAuth;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// Connecting an account with OAuth 2.0 through the scheduling service (docs/platforms.md#connecting), against an
/// authorization server of ours that follows RFC 6749 and RFC 7636: the caller gets the authorization URL, the browser
/// comes back to the callback with a code, the service exchanges it and sends the browser on to the caller's redirect
/// URI with the new account. Then the tokens: refreshed ahead of expiry, and a refused refresh marks the account.
/// </summary>
public sealed class OAuthConnectionTests(OAuthConnectionTests.OAuthFactory factory) : IClassFixture<OAuthConnectionTests.OAuthFactory>
{
    private const string Platform = "test_oauth";
    private const string Unconfigured = "test_unconfigured";
    private const string Callback = "https://posts.example.test/v1/oauth/callback";
    private const string RedirectUri = "https://app.example.test/connected";

    public sealed class OAuthFactory : SchedulingFactory
    {
        public FakeAuthorizationServer Authorization { get; private set; } = null!;

        protected override void Configure(Dictionary<string, string> settings)
        {
            Authorization = FakeAuthorizationServer.StartAsync().GetAwaiter().GetResult();
            settings["OAuth:CallbackUrl"] = Callback;
            settings[$"OAuth:Platforms:{Platform}:ClientId"] = FakeAuthorizationServer.ClientId;
            settings[$"OAuth:Platforms:{Platform}:ClientSecret"] = FakeAuthorizationServer.ClientSecret;
            settings["OAuth:RefreshInterval"] = "01:00:00"; // the tests sweep themselves
        }

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.ConfigureServices(services =>
            {
                services.AddSingleton<IOAuthPlatform>(new TestPlatform(Platform, Authorization.BaseUrl));
                services.AddSingleton<IOAuthPlatform>(new TestPlatform(Unconfigured, Authorization.BaseUrl));
            });
        }

        public override async ValueTask DisposeAsync()
        {
            await base.DisposeAsync();
            await Authorization.DisposeAsync();
        }

        /// <summary>The gateway forwarding a browser to the callback: its own identity with the callback scope, no API key.</summary>
        public HttpClient BrowserClient()
            => CreateDefaultClient(new InternalIdentityHandler(InternalKeys.GatewayIssuer,
                InternalIdentity.Service(InternalIssuers.Gateway, InternalScopes.OAuthCallback), Extensions.Audience));
    }

    [Fact]
    public async Task Connecting_sends_the_browser_to_the_platform_and_back_with_the_new_account_whose_tokens_are_stored_encrypted()
    {
        string workspace = NewWorkspace();
        using var client = factory.Client(workspace, "key_connector");

        int exchanged = factory.Authorization.CodeExchanges.Count;
        var start = await StartAsync(client, state: "opaque-123");
        var authorize = new Uri(start["authorizationUrl"]!.GetValue<string>());
        var query = QueryHelpers.ParseQuery(authorize.Query);
        Assert.Equal(factory.Authorization.BaseUrl.Authority, authorize.Authority);
        Assert.Equal(FakeAuthorizationServer.ClientId, query["client_id"]);
        Assert.Equal("code", query["response_type"]);
        Assert.Equal(Callback, query["redirect_uri"]);
        Assert.Equal("post.write offline.access", query["scope"]);
        Assert.Equal("S256", query["code_challenge_method"]);
        Assert.DoesNotContain("opaque-123", authorize.Query, StringComparison.Ordinal); // the caller's state stays with us

        var back = await CompleteAsync(authorize);

        Assert.Equal(HttpStatusCode.Redirect, back.StatusCode);
        var location = back.Headers.Location!;
        Assert.DoesNotContain("error", location.Query, StringComparison.Ordinal);
        Assert.StartsWith(RedirectUri + "?", location.ToString(), StringComparison.Ordinal);
        var answer = QueryHelpers.ParseQuery(location.Query);
        Assert.Equal("opaque-123", answer["state"]);
        string accountId = answer["accountId"]!;
        Assert.Equal(accountId, answer["accountIds"]);

        var account = await client.GetFromJsonAsync<JsonObject>($"/v1/social-accounts/{accountId}");
        Assert.Equal(Platform, account!["platform"]!.GetValue<string>());
        Assert.Equal("@alice", account["handle"]!.GetValue<string>());
        Assert.Equal("active", account["status"]!.GetValue<string>());
        Assert.DoesNotContain("Token", account.ToJsonString(), StringComparison.OrdinalIgnoreCase);

        // The code was exchanged once, with the verifier whose challenge the browser carried.
        Assert.Equal(exchanged + 1, factory.Authorization.CodeExchanges.Count);
        var stored = await StoredAsync(accountId);
        string accessToken = factory.Authorization.CodeExchanges.Last();
        Assert.DoesNotContain(accessToken, Encoding.Latin1.GetString(stored.Credentials!), StringComparison.Ordinal);
        var credentials = Credentials(accountId, stored.Credentials!);
        Assert.Equal(accessToken, credentials["accessToken"]);
        Assert.Equal("u-42", credentials["userId"]);
        Assert.NotNull(stored.RefreshToken);
        Assert.InRange(stored.TokenExpiresAt!.Value, DateTime.UtcNow.AddMinutes(110), DateTime.UtcNow.AddMinutes(125));
    }

    [Fact]
    public async Task StartOAuthConnection_over_gRPC_gives_the_authorization_URL_whose_callback_connects_the_account()
    {
        string workspace = NewWorkspace();
        var accounts = factory.SocialAccountsClient(new InternalIdentity(workspace, "key_grpc", ["accounts:read", "accounts:write"]));
        var started = await accounts.StartOAuthConnectionAsync(new Contracts.Scheduling.V1.StartOAuthConnectionRequest
        {
            Platform = Platform,
            RedirectUri = RedirectUri,
            State = "grpc-state",
        });
        Assert.True(started.ExpireTime.ToDateTimeOffset() > DateTimeOffset.UtcNow);
        var authorize = new Uri(started.AuthorizationUrl);
        Assert.Equal(factory.Authorization.BaseUrl.Authority, authorize.Authority);
        Assert.Equal(Callback, QueryHelpers.ParseQuery(authorize.Query)["redirect_uri"]);

        var back = await CompleteAsync(authorize);
        Assert.Equal(HttpStatusCode.Redirect, back.StatusCode);
        var answer = QueryHelpers.ParseQuery(back.Headers.Location!.Query);
        Assert.Equal("grpc-state", answer["state"]);
        var account = await accounts.GetSocialAccountAsync(new Contracts.Scheduling.V1.GetSocialAccountRequest { SocialAccountId = answer["accountId"]! });
        Assert.Equal((Platform, Contracts.Scheduling.V1.SocialAccountStatus.Active), (account.Platform, account.Status));
    }

    [Fact]
    public async Task A_state_is_good_for_one_callback_only()
    {
        using var client = factory.Client(NewWorkspace());
        var authorize = new Uri((await StartAsync(client))["authorizationUrl"]!.GetValue<string>());
        var redirect = await FakeAuthorizationServer.AuthorizeAsync(authorize);

        using var browser = factory.BrowserClient();
        var first = await browser.GetAsync(redirect.PathAndQuery);
        var second = await browser.GetAsync(redirect.PathAndQuery);

        Assert.Equal(HttpStatusCode.Redirect, first.StatusCode);
        var error = await second.AssertEnvelopeAsync(HttpStatusCode.BadRequest, "BAD_REQUEST");
        Assert.Contains("used already", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Single((await client.GetFromJsonAsync<JsonObject>("/v1/social-accounts"))!["data"]!.AsArray());
    }

    [Fact]
    public async Task A_tampered_state_is_refused_and_leaves_the_real_one_usable()
    {
        using var client = factory.Client(NewWorkspace());
        var authorize = new Uri((await StartAsync(client))["authorizationUrl"]!.GetValue<string>());
        var redirect = await FakeAuthorizationServer.AuthorizeAsync(authorize);
        var query = QueryHelpers.ParseQuery(redirect.Query);
        string state = query["state"]!;
        string forged = state[..(state.LastIndexOf('.') + 1)] + new string('A', state.Length - state.LastIndexOf('.') - 1);

        using var browser = factory.BrowserClient();
        var refused = await browser.GetAsync($"/v1/oauth/callback?code={query["code"]}&state={Uri.EscapeDataString(forged)}");
        var unknown = await browser.GetAsync($"/v1/oauth/callback?code={query["code"]}&state=nothing-of-ours");
        var real = await browser.GetAsync(redirect.PathAndQuery);

        await refused.AssertEnvelopeAsync(HttpStatusCode.BadRequest, "BAD_REQUEST");
        await unknown.AssertEnvelopeAsync(HttpStatusCode.BadRequest, "BAD_REQUEST");
        Assert.Equal(HttpStatusCode.Redirect, real.StatusCode);
        Assert.NotNull(QueryHelpers.ParseQuery(real.Headers.Location!.Query)["accountId"].SingleOrDefault());
    }

    [Fact]
    public async Task An_expired_state_is_refused_and_no_code_is_exchanged()
    {
        using var client = factory.Client(NewWorkspace());
        var authorize = new Uri((await StartAsync(client))["authorizationUrl"]!.GetValue<string>());
        var redirect = await FakeAuthorizationServer.AuthorizeAsync(authorize);
        string id = QueryHelpers.ParseQuery(redirect.Query)["state"].ToString().Split('.')[0];
        await using (var connection = new NpgsqlConnection(factory.ConnectionString))
        {
            await connection.OpenAsync();
            await using var expire = new NpgsqlCommand("UPDATE scheduling.oauth_authorizations SET expires_at = now() - interval '1 second' WHERE id = @id", connection);
            expire.Parameters.AddWithValue("id", id);
            Assert.Equal(1, await expire.ExecuteNonQueryAsync());
        }

        int exchanges = factory.Authorization.CodeExchanges.Count;
        using var browser = factory.BrowserClient();
        var response = await browser.GetAsync(redirect.PathAndQuery);

        var error = await response.AssertEnvelopeAsync(HttpStatusCode.BadRequest, "BAD_REQUEST");
        Assert.Contains("expired", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(exchanges, factory.Authorization.CodeExchanges.Count);
    }

    [Fact]
    public async Task A_user_who_refuses_is_sent_back_with_access_denied_and_nothing_is_connected()
    {
        using var client = factory.Client(NewWorkspace());
        var authorize = new Uri((await StartAsync(client, state: "s1"))["authorizationUrl"]!.GetValue<string>());
        var refused = await FakeAuthorizationServer.AuthorizeAsync(authorize, deny: true);

        using var browser = factory.BrowserClient();
        var back = await browser.GetAsync(refused.PathAndQuery);

        Assert.Equal(HttpStatusCode.Redirect, back.StatusCode);
        var answer = QueryHelpers.ParseQuery(back.Headers.Location!.Query);
        Assert.Equal("access_denied", answer["error"]);
        Assert.Equal("s1", answer["state"]);
        Assert.False(answer.ContainsKey("accountId"));
        Assert.Empty((await client.GetFromJsonAsync<JsonObject>("/v1/social-accounts"))!["data"]!.AsArray());
    }

    [Theory]
    [InlineData(Unconfigured, RedirectUri, "platform", "no test_unconfigured app configured")]
    [InlineData("mastodon", RedirectUri, "platform", "connects with its credentials")]
    [InlineData(Platform, "http://app.example.test/connected", "redirectUri", "https")]
    [InlineData(Platform, "https://app.example.test/connected#x", "redirectUri", "fragment")]
    [InlineData(Platform, "/connected", "redirectUri", "absolute")]
    public async Task A_connection_that_cannot_start_is_a_422_naming_why_and_stores_nothing(string platform, string redirectUri, string field, string says)
    {
        using var client = factory.Client(NewWorkspace());
        long before = await CountAsync("oauth_authorizations");

        var response = await client.PostAsJsonAsync("/v1/social-accounts/connect", new { platform, redirectUri });

        var error = await response.AssertEnvelopeAsync(HttpStatusCode.UnprocessableEntity, "VALIDATION");
        Assert.Equal(field, error.GetProperty("details").GetProperty("issues")[0].GetProperty("path").GetString());
        Assert.Contains(says, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await CountAsync("oauth_authorizations"));
    }

    [Fact]
    public async Task The_callback_answers_only_the_gateways_callback_identity()
    {
        using var apiKeyCaller = factory.Client(NewWorkspace());
        var response = await apiKeyCaller.GetAsync("/v1/oauth/callback?code=x&state=y");
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task A_token_about_to_expire_is_refreshed_by_the_sweep_and_a_rotated_refresh_token_kept()
    {
        string accountId = await ConnectAsync(NewWorkspace());
        var before = await StoredAsync(accountId);
        await SetExpiryAsync(accountId, DateTime.UtcNow.AddMinutes(2));

        await factory.Services.GetRequiredService<TokenRefresher>().SweepAsync(CancellationToken.None);

        var after = await StoredAsync(accountId);
        string fresh = Credentials(accountId, after.Credentials!)["accessToken"];
        Assert.NotEqual(Credentials(accountId, before.Credentials!)["accessToken"], fresh);
        Assert.True(factory.Authorization.IsValidAccessToken(fresh));
        Assert.InRange(after.TokenExpiresAt!.Value, DateTime.UtcNow.AddMinutes(110), DateTime.UtcNow.AddMinutes(125));

        // The rotated refresh token was stored: the next refresh uses it and succeeds.
        await SetExpiryAsync(accountId, DateTime.UtcNow.AddMinutes(2));
        await factory.Services.GetRequiredService<TokenRefresher>().SweepAsync(CancellationToken.None);
        Assert.NotEqual(fresh, Credentials(accountId, (await StoredAsync(accountId)).Credentials!)["accessToken"]);
    }

    [Fact]
    public async Task A_revoked_grant_marks_the_account_reauth_required_emits_the_event_and_reconnecting_brings_it_back()
    {
        string workspace = NewWorkspace();
        string accountId = await ConnectAsync(workspace);
        string refused = Credentials(accountId, (await StoredAsync(accountId)).Credentials!)["accessToken"];
        factory.Authorization.Revoke("u-42");

        var outcome = await factory.Services.GetRequiredService<OAuthTokens>().RefreshAsync(accountId, refused, null, CancellationToken.None);

        Assert.IsType<OAuthTokens.ReauthRequired>(outcome);
        using var client = factory.Client(workspace);
        var account = await client.GetFromJsonAsync<JsonObject>($"/v1/social-accounts/{accountId}");
        Assert.Equal("reauth_required", account!["status"]!.GetValue<string>());
        var stored = await StoredAsync(accountId);
        Assert.Null(stored.Credentials);
        Assert.Null(stored.RefreshToken);
        var emitted = await Eventually.Until(() => Task.FromResult(factory.AccountEvents.Where(e => e.AccountId == accountId).ToList()),
            events => events.Count > 0, TimeSpan.FromSeconds(30), "account.reauth_required on the bus");
        var reauth = Assert.Single(emitted);
        Assert.Equal("account.reauth_required", reauth.Type);
        Assert.Equal(workspace, reauth.WorkspaceId);
        Assert.Equal("reauth_required", reauth.Data.GetProperty("status").GetString());

        // Connecting the same platform account again revives the same account, with new tokens.
        factory.Authorization.Reinstate("u-42");
        Assert.Equal(accountId, await ConnectAsync(workspace));
        Assert.Equal("active", (await client.GetFromJsonAsync<JsonObject>($"/v1/social-accounts/{accountId}"))!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_refused_token_that_was_refreshed_meanwhile_is_answered_with_the_fresh_one_without_asking_the_platform()
    {
        string accountId = await ConnectAsync(NewWorkspace());
        string old = Credentials(accountId, (await StoredAsync(accountId)).Credentials!)["accessToken"];
        var tokens = factory.Services.GetRequiredService<OAuthTokens>();
        var first = Assert.IsType<OAuthTokens.Refreshed>(await tokens.RefreshAsync(accountId, old, null, CancellationToken.None));
        int refreshes = factory.Authorization.Refreshes;

        var second = Assert.IsType<OAuthTokens.Refreshed>(await tokens.RefreshAsync(accountId, old, null, CancellationToken.None));

        Assert.Equal(first.CredentialsJson, second.CredentialsJson);
        Assert.Equal(refreshes, factory.Authorization.Refreshes);
    }

    private async Task<string> ConnectAsync(string workspace)
    {
        using var client = factory.Client(workspace);
        var back = await CompleteAsync(new Uri((await StartAsync(client))["authorizationUrl"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.Redirect, back.StatusCode);
        return QueryHelpers.ParseQuery(back.Headers.Location!.Query)["accountId"]!;
    }

    private static async Task<JsonObject> StartAsync(HttpClient client, string? state = null)
    {
        var response = await client.PostAsJsonAsync("/v1/social-accounts/connect", new { platform = Platform, redirectUri = RedirectUri, state });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    private async Task<HttpResponseMessage> CompleteAsync(Uri authorize)
    {
        var redirect = await FakeAuthorizationServer.AuthorizeAsync(authorize);
        Assert.StartsWith(Callback, redirect.ToString(), StringComparison.Ordinal);
        using var browser = factory.BrowserClient();
        return await browser.GetAsync(redirect.PathAndQuery);
    }

    private sealed record Stored(byte[]? Credentials, byte[]? RefreshToken, DateTime? TokenExpiresAt);

    private async Task<Stored> StoredAsync(string accountId)
    {
        await using var connection = new NpgsqlConnection(factory.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT credentials, refresh_token, token_expires_at FROM scheduling.social_accounts WHERE id = @id", connection);
        command.Parameters.AddWithValue("id", accountId);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return new Stored(reader.IsDBNull(0) ? null : (byte[])reader[0], reader.IsDBNull(1) ? null : (byte[])reader[1],
            reader.IsDBNull(2) ? null : reader.GetDateTime(2));
    }

    private async Task SetExpiryAsync(string accountId, DateTime expiresAt)
    {
        await using var connection = new NpgsqlConnection(factory.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("UPDATE scheduling.social_accounts SET token_expires_at = @expiresAt WHERE id = @id", connection);
        command.Parameters.AddWithValue("id", accountId);
        command.Parameters.AddWithValue("expiresAt", expiresAt);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<long> CountAsync(string table)
    {
        await using var connection = new NpgsqlConnection(factory.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT count(*) FROM scheduling.{table}", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private Dictionary<string, string> Credentials(string accountId, byte[] stored)
        => JsonSerializer.Deserialize<Dictionary<string, string>>(factory.Services.GetRequiredService<CredentialProtector>().Unprotect(accountId, stored))!;

    private static string NewWorkspace() => $"ws_{Guid.NewGuid():N}";

    /// <summary>A platform as <see cref="IOAuthPlatform"/> sees one: its endpoints on the fake, one account per grant.</summary>
    private sealed class TestPlatform(string name, Uri server) : IOAuthPlatform
    {
        public string Platform => name;

        public OAuthEndpoints Endpoints { get; } = new(new Uri(server, "authorize"), new Uri(server, "token"), server, ["post.write", "offline.access"]);

        public async Task<IReadOnlyList<OAuthAccount>> AccountsAsync(HttpClient http, OAuthEndpoints endpoints, OAuthClient client, OAuthGrant grant, CancellationToken ct)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(endpoints.ApiBaseUrl, "me"));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", grant.AccessToken);
            using var response = await http.SendAsync(request, ct);
            if (!response.IsSuccessStatusCode)
            {
                throw new OAuthException($"The account lookup answered {(int)response.StatusCode}.");
            }

            var me = (await response.Content.ReadFromJsonAsync<JsonObject>(ct))!;
            string id = me["id"]!.GetValue<string>();
            return [new OAuthAccount(id, "@" + me["username"]!.GetValue<string>(), me["name"]?.GetValue<string>(), new Dictionary<string, string> { ["userId"] = id })];
        }
    }
}

/// <summary>
/// An OAuth 2.0 authorization server (RFC 6749 §4.1, RFC 7636 S256) on a loopback port: <c>GET /authorize</c> consents
/// at once (or refuses, when asked), <c>POST /token</c> exchanges a code once — checking the client's Basic
/// credentials, the redirect URI and the PKCE verifier — and refreshes with rotation; a revoked user's refresh answers
/// <c>invalid_grant</c>. <c>GET /me</c> answers the token's user.
/// </summary>
public sealed class FakeAuthorizationServer : IAsyncDisposable
{
    public const string ClientId = "client-1";
    public const string ClientSecret = "secret-1";

    private readonly ConcurrentDictionary<string, (string Challenge, string RedirectUri)> _codes = new();
    private readonly ConcurrentDictionary<string, string> _accessTokens = new(); // token → user
    private readonly ConcurrentDictionary<string, string> _refreshTokens = new(); // token → user
    private readonly ConcurrentDictionary<string, bool> _revoked = new();
    private WebApplication _app = null!;
    private int _refreshes;

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>The access token issued for each code exchanged, in order.</summary>
    public ConcurrentQueue<string> CodeExchanges { get; } = new();

    public int Refreshes => _refreshes;

    public static async Task<FakeAuthorizationServer> StartAsync()
    {
        var server = new FakeAuthorizationServer();
        (server._app, var url) = await LoopbackHost.StartAsync(server.Map);
        server.BaseUrl = new Uri(url, "/oauth/");
        return server;
    }

    public bool IsValidAccessToken(string token) => _accessTokens.ContainsKey(token);

    public void Revoke(string user) => _revoked[user] = true;

    public void Reinstate(string user) => _revoked.TryRemove(user, out _);

    /// <summary>What the user's browser does at the authorization URL: returns where the server sends it.</summary>
    public static async Task<Uri> AuthorizeAsync(Uri authorize, bool deny = false)
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        var response = await http.GetAsync(deny ? authorize + "&deny=1" : authorize.ToString());
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        return response.Headers.Location!;
    }

    private void Map(WebApplication app)
    {
        app.MapGet("/oauth/authorize", (HttpRequest request) =>
        {
            var q = request.Query;
            if (q["client_id"] != ClientId || q["response_type"] != "code" || q["code_challenge_method"] != "S256"
                || string.IsNullOrEmpty(q["code_challenge"]) || string.IsNullOrEmpty(q["state"]) || string.IsNullOrEmpty(q["redirect_uri"]))
            {
                return Results.BadRequest("invalid authorization request");
            }

            var back = new Dictionary<string, string?> { ["state"] = q["state"] };
            if (q["deny"] == "1")
            {
                back["error"] = "access_denied";
                back["error_description"] = "The user refused.";
            }
            else
            {
                string code = Guid.NewGuid().ToString("N");
                _codes[code] = (q["code_challenge"]!, q["redirect_uri"]!);
                back["code"] = code;
            }

            return Results.Redirect(QueryHelpers.AddQueryString(q["redirect_uri"]!, back));
        });
        app.MapPost("/oauth/token", async (HttpRequest request) =>
        {
            if (request.Headers.Authorization.ToString() != "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{ClientId}:{ClientSecret}")))
            {
                return Results.Json(new { error = "invalid_client" }, statusCode: 401);
            }

            var form = await request.ReadFormAsync();
            switch (form["grant_type"].ToString())
            {
                case "authorization_code":
                    if (!_codes.TryRemove(form["code"].ToString(), out var issued) || issued.RedirectUri != form["redirect_uri"]
                        || Base64UrlTextEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(form["code_verifier"].ToString()))) != issued.Challenge)
                    {
                        return Results.Json(new { error = "invalid_grant" }, statusCode: 400);
                    }

                    var tokens = Issue("u-42");
                    CodeExchanges.Enqueue(tokens.AccessToken);
                    return Results.Json(new { access_token = tokens.AccessToken, token_type = "bearer", expires_in = 7200, refresh_token = tokens.RefreshToken, scope = "post.write offline.access" });
                case "refresh_token":
                    Interlocked.Increment(ref _refreshes);
                    if (!_refreshTokens.TryRemove(form["refresh_token"].ToString(), out string? user) || _revoked.ContainsKey(user))
                    {
                        return Results.Json(new { error = "invalid_grant", error_description = "Value passed for the token was invalid." }, statusCode: 400);
                    }

                    var refreshed = Issue(user);
                    return Results.Json(new { access_token = refreshed.AccessToken, token_type = "bearer", expires_in = 7200, refresh_token = refreshed.RefreshToken });
                default:
                    return Results.Json(new { error = "unsupported_grant_type" }, statusCode: 400);
            }
        });
        app.MapGet("/oauth/me", (HttpRequest request) =>
            request.Headers.Authorization.ToString() is { } header && header.StartsWith("Bearer ", StringComparison.Ordinal)
            && _accessTokens.TryGetValue(header["Bearer ".Length..], out string? user) && !_revoked.ContainsKey(user)
                ? Results.Json(new { id = user, username = "alice", name = "Alice" })
                : Results.Json(new { error = "invalid_token" }, statusCode: 401));
    }

    private (string AccessToken, string RefreshToken) Issue(string user)
    {
        string access = "at-" + Guid.NewGuid().ToString("N"), refresh = "rt-" + Guid.NewGuid().ToString("N");
        _accessTokens[access] = user;
        _refreshTokens[refresh] = user;
        return (access, refresh);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
