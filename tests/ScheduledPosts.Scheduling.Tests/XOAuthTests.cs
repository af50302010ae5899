using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using ScheduledPosts.Scheduling.Accounts.OAuth;
using ScheduledPosts.Testing.FakePlatforms;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>X's OAuth description and AccountsAsync against FakeX, and the fake's consent and token endpoints as X documents them.</summary>
public sealed class XOAuthTests : IAsyncLifetime
{
    private const string Callback = "https://app.example/v1/oauth/callback";

    private readonly XOAuth _platform = new();
    // Redirects not followed: the consent's 302 is what is checked.
    private static readonly HttpClient Http = new(new HttpClientHandler { AllowAutoRedirect = false });

    private FakeX _x = null!;

    public async Task InitializeAsync() => _x = await FakeX.StartAsync(redirectUris: [Callback]);

    public async Task DisposeAsync() => await _x.DisposeAsync();

    [Fact]
    public void The_endpoints_and_scopes_are_X_s()
    {
        var endpoints = _platform.Endpoints;
        Assert.Equal("x", _platform.Platform);
        Assert.Equal(("https://x.com/i/oauth2/authorize", "https://api.x.com/2/oauth2/token"), (endpoints.AuthorizeUrl.AbsoluteUri, endpoints.TokenUrl.AbsoluteUri));
        Assert.Equal(["tweet.read", "tweet.write", "users.read", "media.write", "offline.access"], endpoints.Scopes);
        Assert.True(endpoints.Pkce);
        Assert.Equal(OAuthClientAuthentication.BasicHeader, endpoints.ClientAuthentication);
    }

    [Fact]
    public async Task The_account_a_grant_reaches_is_the_consenting_user_with_its_userId_and_username()
    {
        var accounts = await _platform.AccountsAsync(Http, Endpoints(), new OAuthClient(FakeX.ClientId, FakeX.ClientSecret),
            new OAuthGrant(_x.GrantAccessToken(), null, null, null), CancellationToken.None);

        var account = Assert.Single(accounts);
        Assert.Equal((FakeX.UserId, "@" + FakeX.Username, FakeX.Name), (account.ExternalId, account.Handle, account.DisplayName));
        Assert.Equal(new Dictionary<string, string> { ["userId"] = FakeX.UserId, ["username"] = FakeX.Username }, account.Credentials);
        Assert.Null(account.AccessToken);
    }

    [Fact]
    public async Task A_revoked_grant_is_an_OAuthException()
    {
        string token = _x.GrantAccessToken();
        _x.RevokeGrants();

        await Assert.ThrowsAsync<OAuthException>(() => _platform.AccountsAsync(Http, Endpoints(), new OAuthClient(FakeX.ClientId, FakeX.ClientSecret),
            new OAuthGrant(token, null, null, null), CancellationToken.None));
    }

    [Fact]
    public async Task Consent_code_exchange_refresh_and_revocation_behave_as_X_documents()
    {
        string verifier = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        string challenge = Convert.ToBase64String(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        string authorize = QueryHelpers.AddQueryString(_x.AuthorizeUrl.AbsoluteUri, new Dictionary<string, string?>
        {
            ["response_type"] = "code", ["client_id"] = FakeX.ClientId, ["redirect_uri"] = Callback, ["state"] = "st-1",
            ["scope"] = string.Join(' ', XOAuth.Scopes), ["code_challenge"] = challenge, ["code_challenge_method"] = "S256",
        });

        using var consent = await Http.GetAsync(authorize);
        Assert.Equal(HttpStatusCode.Redirect, consent.StatusCode);
        var back = consent.Headers.Location!;
        Assert.StartsWith(Callback + "?", back.AbsoluteUri, StringComparison.Ordinal);
        var query = QueryHelpers.ParseQuery(back.Query);
        Assert.Equal("st-1", query["state"]);

        // Without the client's Basic header, or with the wrong verifier, no tokens.
        Assert.Equal(HttpStatusCode.Unauthorized, (await Token(null, ("grant_type", "authorization_code"), ("code", query["code"]!), ("redirect_uri", Callback), ("code_verifier", verifier))).Status);
        string code = query["code"]!;
        var wrong = await Token(Basic(), ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", Callback), ("code_verifier", verifier + "x"));
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_request"), (wrong.Status, wrong.Body["error"]!.GetValue<string>()));

        // The code was spent by the failed try: consent again.
        using var again = await Http.GetAsync(authorize);
        code = QueryHelpers.ParseQuery(again.Headers.Location!.Query)["code"]!;
        var granted = await Token(Basic(), ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", Callback), ("code_verifier", verifier));
        Assert.Equal(HttpStatusCode.OK, granted.Status);
        Assert.Equal(7200, granted.Body["expires_in"]!.GetValue<int>());
        string access = granted.Body["access_token"]!.GetValue<string>();
        string refresh = granted.Body["refresh_token"]!.GetValue<string>();
        Assert.Single(await _platform.AccountsAsync(Http, Endpoints(), new OAuthClient(FakeX.ClientId, FakeX.ClientSecret), new OAuthGrant(access, refresh, null, null), CancellationToken.None));

        // An expired access token is refused; a refresh gives new tokens and the old refresh token stops working.
        _x.ExpireAccessTokens();
        await Assert.ThrowsAsync<OAuthException>(() => _platform.AccountsAsync(Http, Endpoints(), new OAuthClient(FakeX.ClientId, FakeX.ClientSecret),
            new OAuthGrant(access, refresh, null, null), CancellationToken.None));
        var refreshed = await Token(Basic(), ("grant_type", "refresh_token"), ("refresh_token", refresh));
        Assert.Equal(HttpStatusCode.OK, refreshed.Status);
        string newRefresh = refreshed.Body["refresh_token"]!.GetValue<string>();
        Assert.NotEqual(refresh, newRefresh);
        Assert.Equal(HttpStatusCode.BadRequest, (await Token(Basic(), ("grant_type", "refresh_token"), ("refresh_token", refresh))).Status);

        // Revoked: the refresh token is refused as X refuses it.
        _x.RevokeGrants();
        var revoked = await Token(Basic(), ("grant_type", "refresh_token"), ("refresh_token", newRefresh));
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_request", "Value passed for the token was invalid."),
            (revoked.Status, revoked.Body["error"]!.GetValue<string>(), revoked.Body["error_description"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Consent_refuses_an_unregistered_callback_and_a_missing_challenge_without_redirecting()
    {
        var good = new Dictionary<string, string?>
        {
            ["response_type"] = "code", ["client_id"] = FakeX.ClientId, ["redirect_uri"] = Callback, ["state"] = "s",
            ["scope"] = "tweet.read", ["code_challenge"] = "abc", ["code_challenge_method"] = "S256",
        };
        foreach (var (key, value) in new[] { ("redirect_uri", "https://evil.example/cb"), ("code_challenge_method", "plain"), ("client_id", "other") })
        {
            var query = new Dictionary<string, string?>(good) { [key] = value };
            using var response = await Http.GetAsync(QueryHelpers.AddQueryString(_x.AuthorizeUrl.AbsoluteUri, query));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }
    }

    private OAuthEndpoints Endpoints() => _platform.Endpoints with { AuthorizeUrl = _x.AuthorizeUrl, TokenUrl = _x.TokenUrl, ApiBaseUrl = _x.BaseUrl };

    private static AuthenticationHeaderValue Basic()
        => new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{FakeX.ClientId}:{FakeX.ClientSecret}")));

    private async Task<(HttpStatusCode Status, JsonNode Body)> Token(AuthenticationHeaderValue? auth, params (string Name, string Value)[] form)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _x.TokenUrl)
        {
            Content = new FormUrlEncodedContent(form.Select(f => KeyValuePair.Create(f.Name, f.Value))),
        };
        request.Headers.Authorization = auth;
        using var response = await Http.SendAsync(request);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }
}
