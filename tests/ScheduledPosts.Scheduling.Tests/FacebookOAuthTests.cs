using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using ScheduledPosts.Scheduling.Accounts.OAuth;
using ScheduledPosts.Testing.FakePlatforms;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>Facebook Login for Pages against FakeFacebook: the dialog, the code exchange, then the Pages a grant reaches.</summary>
public sealed class FacebookOAuthTests : IAsyncLifetime, IDisposable
{
    private const string RedirectUri = "https://app.example/v1/oauth/callback";

    private readonly FacebookOAuth _oauth = new();
    private readonly HttpClient _http = new(new HttpClientHandler { AllowAutoRedirect = false });
    private FakeFacebook _facebook = null!;

    public async Task InitializeAsync()
    {
        _facebook = await FakeFacebook.StartAsync();
        _facebook.RedirectUris.Add(RedirectUri);
    }

    public async Task DisposeAsync() => await _facebook.DisposeAsync();

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task Each_Page_the_user_may_post_to_is_an_account_with_its_own_Page_token_and_pageId()
    {
        var grant = await GrantAsync();

        var accounts = await _oauth.AccountsAsync(_http, Endpoints(), Client(), grant, CancellationToken.None);

        // The other Page lets the user only analyse: posting there would fail, so it is not offered.
        var account = Assert.Single(accounts);
        Assert.Equal((FakeFacebook.PageId, FakeFacebook.PageName, FakeFacebook.PageName), (account.ExternalId, account.Handle, account.DisplayName));
        Assert.Equal(new Dictionary<string, string> { ["pageId"] = FakeFacebook.PageId }, account.Credentials);
        Assert.NotNull(account.AccessToken);
        Assert.NotEqual(grant.AccessToken, account.AccessToken);
        Assert.Equal(1, _facebook.LongLivedExchanges);

        // The Page token is what posting and the lookup use: it reads the Page's feed.
        using var feed = await _http.GetAsync(new Uri(_facebook.BaseUrl, $"v26.0/{FakeFacebook.PageId}/feed?access_token={Uri.EscapeDataString(account.AccessToken!)}"));
        Assert.Equal(HttpStatusCode.OK, feed.StatusCode);
    }

    [Fact]
    public async Task Every_Page_is_listed_across_pages_of_me_accounts()
    {
        var pages = Enumerable.Range(1, 120).Select(i => new FakeFacebook.FakePage($"{7000 + i}", $"Page {i}", FakeFacebook.AllTasks)).ToArray();
        _facebook.SetPages(pages);

        var accounts = await _oauth.AccountsAsync(_http, Endpoints(), Client(), await GrantAsync(), CancellationToken.None);

        Assert.Equal(pages.Select(p => p.Id), accounts.Select(a => a.ExternalId));
    }

    [Fact]
    public async Task A_revoked_grant_is_refused_with_Facebooks_reason()
    {
        var grant = await GrantAsync();
        _facebook.RevokeGrant();

        var refused = await Assert.ThrowsAsync<OAuthException>(() => _oauth.AccountsAsync(_http, Endpoints(), Client(), grant, CancellationToken.None));

        Assert.Contains("#190", refused.Message, StringComparison.Ordinal);
        Assert.Contains("has not authorized application", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_app_secret_is_refused()
    {
        var grant = await GrantAsync();

        var refused = await Assert.ThrowsAsync<OAuthException>(() =>
            _oauth.AccountsAsync(_http, Endpoints(), new OAuthClient(FakeFacebook.ClientId, "wrong"), grant, CancellationToken.None));

        Assert.Contains("client secret", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_grant_that_reaches_no_Page_says_what_to_do()
    {
        var grant = await GrantAsync("pages_read_engagement,pages_manage_posts");

        var refused = await Assert.ThrowsAsync<OAuthException>(() => _oauth.AccountsAsync(_http, Endpoints(), Client(), grant, CancellationToken.None));

        Assert.Contains("no Page", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_endpoints_are_Facebooks_with_the_Page_permissions_and_no_PKCE()
    {
        var endpoints = _oauth.Endpoints;

        Assert.Equal("facebook_page", _oauth.Platform);
        Assert.Equal(new Uri("https://www.facebook.com/v26.0/dialog/oauth"), endpoints.AuthorizeUrl);
        Assert.Equal(new Uri("https://graph.facebook.com/v26.0/oauth/access_token"), endpoints.TokenUrl);
        Assert.Equal(["pages_show_list", "pages_read_engagement", "pages_manage_posts"], endpoints.Scopes);
        Assert.False(endpoints.Pkce);
        Assert.Equal(OAuthClientAuthentication.RequestBody, endpoints.ClientAuthentication);
    }

    // The Login dialog and the code exchange, as the generic flow makes them with these endpoints.
    private async Task<OAuthGrant> GrantAsync(string? scope = null)
    {
        var endpoints = Endpoints();
        string state = Guid.NewGuid().ToString("N");
        var authorize = QueryHelpers.AddQueryString(endpoints.AuthorizeUrl.ToString(), new Dictionary<string, string?>
        {
            ["client_id"] = FakeFacebook.ClientId, ["redirect_uri"] = RedirectUri, ["state"] = state, ["response_type"] = "code",
            ["scope"] = scope ?? string.Join(endpoints.ScopeSeparator, endpoints.Scopes),
        });
        using var consent = await _http.GetAsync(authorize);
        Assert.Equal(HttpStatusCode.Redirect, consent.StatusCode);
        var callback = QueryHelpers.ParseQuery(consent.Headers.Location!.Query);
        Assert.Equal(state, callback["state"].ToString());

        using var token = await _http.PostAsync(endpoints.TokenUrl, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = FakeFacebook.ClientId, ["client_secret"] = FakeFacebook.ClientSecret, ["redirect_uri"] = RedirectUri,
            ["code"] = callback["code"].ToString(),
        }));
        Assert.Equal(HttpStatusCode.OK, token.StatusCode);
        var body = (await token.Content.ReadFromJsonAsync<JsonObject>())!;
        return new OAuthGrant(body["access_token"]!.GetValue<string>(), null, DateTimeOffset.UtcNow.AddSeconds(body["expires_in"]!.GetValue<int>()), null);
    }

    private OAuthEndpoints Endpoints() => _oauth.Endpoints with
    {
        AuthorizeUrl = new Uri(_facebook.BaseUrl, "v26.0/dialog/oauth"),
        TokenUrl = new Uri(_facebook.BaseUrl, "v26.0/oauth/access_token"),
        ApiBaseUrl = new Uri(_facebook.BaseUrl, "v26.0/"),
    };

    private static OAuthClient Client() => new(FakeFacebook.ClientId, FakeFacebook.ClientSecret);
}
