using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Scheduling.Accounts.OAuth;
using ScheduledPosts.Testing.FakePlatforms;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>LinkedIn's OAuth as <see cref="LinkedInPersonOAuth"/> and <see cref="LinkedInCompanyOAuth"/> describe it, against the fake LinkedIn.</summary>
public sealed class LinkedInOAuthTests : IAsyncLifetime
{
    // The browser's side of the flow follows no redirect: the test reads where LinkedIn sends it.
    private static readonly HttpClient Http = new(new SocketsHttpHandler { AllowAutoRedirect = false });
    private static readonly OAuthClient App = new(FakeLinkedIn.ClientId, FakeLinkedIn.ClientSecret);

    private FakeLinkedIn _linkedIn = null!;

    public async Task InitializeAsync() => _linkedIn = await FakeLinkedIn.StartAsync();

    public async Task DisposeAsync() => await _linkedIn.DisposeAsync();

    [Fact]
    public void Both_platforms_authorize_at_LinkedIn_with_the_secret_in_the_form_body_and_without_PKCE()
    {
        var person = new LinkedInPersonOAuth().Endpoints;
        var company = new LinkedInCompanyOAuth().Endpoints;

        Assert.Equal(("https://www.linkedin.com/oauth/v2/authorization", "https://www.linkedin.com/oauth/v2/accessToken", "https://api.linkedin.com/"),
            (person.AuthorizeUrl.AbsoluteUri, person.TokenUrl.AbsoluteUri, person.ApiBaseUrl.AbsoluteUri));
        Assert.Equal((false, OAuthClientAuthentication.RequestBody, " "), (person.Pkce, person.ClientAuthentication, person.ScopeSeparator));
        Assert.Equal(["openid", "profile", "w_member_social"], person.Scopes);
        Assert.Equal(["rw_organization_admin", "w_organization_social", "r_organization_social"], company.Scopes);
        Assert.Equal((Platforms.LinkedInPerson, Platforms.LinkedInCompany), (new LinkedInPersonOAuth().Platform, new LinkedInCompanyOAuth().Platform));
    }

    [Fact]
    public async Task A_member_grant_reaches_the_member_as_a_person_author()
    {
        var platform = new LinkedInPersonOAuth();
        var grant = await GrantAsync(platform.Endpoints.Scopes);

        var account = Assert.Single(await platform.AccountsAsync(Http, Endpoints(platform), App, grant, CancellationToken.None));

        Assert.Equal((FakeLinkedIn.MemberSub, FakeLinkedIn.MemberName, FakeLinkedIn.MemberName), (account.ExternalId, account.Handle, account.DisplayName));
        Assert.Equal(FakeLinkedIn.PersonUrn, Assert.Single(account.Credentials, c => c.Key == "author").Value);
        Assert.Null(account.AccessToken);
    }

    [Fact]
    public async Task A_page_grant_reaches_each_page_the_member_may_post_for_and_no_other()
    {
        var platform = new LinkedInCompanyOAuth();
        var grant = await GrantAsync(platform.Endpoints.Scopes);

        var accounts = await platform.AccountsAsync(Http, Endpoints(platform), App, grant, CancellationToken.None);

        // The administrator's and the content administrator's pages; not the one the member only analyses.
        Assert.Equal(
            [("2414183", "devtestco", "Devtestco", "urn:li:organization:2414183"), ("5583111", "acme-content", "Acme Content", "urn:li:organization:5583111")],
            accounts.Select(a => (a.ExternalId, a.Handle, a.DisplayName, a.Credentials["author"])));
    }

    [Fact]
    public async Task A_grant_without_the_page_roles_scope_or_with_a_revoked_token_says_what_LinkedIn_refused()
    {
        var platform = new LinkedInCompanyOAuth();
        var withoutRoles = await GrantAsync(["w_organization_social"]);
        var revoked = await GrantAsync(["openid", "profile"]);

        var forbidden = await Assert.ThrowsAsync<OAuthException>(() => platform.AccountsAsync(Http, Endpoints(platform), App, withoutRoles, CancellationToken.None));
        _linkedIn.RevokeGrants();
        var refused = await Assert.ThrowsAsync<OAuthException>(() => new LinkedInPersonOAuth().AccountsAsync(Http, Endpoints(new LinkedInPersonOAuth()), App, revoked,
            CancellationToken.None));

        Assert.Contains("403 ACCESS_DENIED", forbidden.Message, StringComparison.Ordinal);
        Assert.Contains("401 REVOKED_ACCESS_TOKEN", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_fake_refreshes_with_the_same_refresh_token_until_the_grant_is_revoked_and_wants_the_secret_in_the_body()
    {
        var grant = await GrantAsync(["openid", "profile", "w_member_social"]);

        var refreshed = await TokenAsync(new() { ["grant_type"] = "refresh_token", ["refresh_token"] = grant.RefreshToken!, ["client_id"] = FakeLinkedIn.ClientId,
            ["client_secret"] = FakeLinkedIn.ClientSecret });
        using var basicOnly = new HttpRequestMessage(HttpMethod.Post, _linkedIn.TokenUrl)
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "refresh_token", ["refresh_token"] = grant.RefreshToken! }),
        };
        basicOnly.Headers.Authorization = new("Basic", Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes($"{FakeLinkedIn.ClientId}:{FakeLinkedIn.ClientSecret}")));
        using var basic = await Http.SendAsync(basicOnly);
        _linkedIn.RevokeGrants();
        using var afterRevoke = await Http.PostAsync(_linkedIn.TokenUrl, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = grant.RefreshToken!, ["client_id"] = FakeLinkedIn.ClientId, ["client_secret"] = FakeLinkedIn.ClientSecret,
        }));

        Assert.Equal(grant.RefreshToken, refreshed["refresh_token"]!.GetValue<string>());
        Assert.Equal(60 * 24 * 3600, refreshed["expires_in"]!.GetValue<long>());
        Assert.NotEqual(grant.AccessToken, refreshed["access_token"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Unauthorized, basic.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, afterRevoke.StatusCode);
        Assert.Equal("invalid_grant", (await afterRevoke.Content.ReadFromJsonAsync<JsonObject>())!["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_fake_sends_an_unknown_scope_back_as_an_error_and_a_code_works_once()
    {
        const string redirect = "https://app.example/oauth/callback";
        using var unknown = await Http.GetAsync(QueryHelpers.AddQueryString(_linkedIn.AuthorizeUrl.AbsoluteUri, new Dictionary<string, string?>
        {
            ["response_type"] = "code", ["client_id"] = FakeLinkedIn.ClientId, ["redirect_uri"] = redirect, ["state"] = "s1", ["scope"] = "openid r_everything",
        }));
        var error = QueryHelpers.ParseQuery(unknown.Headers.Location!.Query);

        string code = await AuthorizeAsync(["openid"], redirect);
        var exchange = new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code", ["code"] = code, ["redirect_uri"] = redirect, ["client_id"] = FakeLinkedIn.ClientId,
            ["client_secret"] = FakeLinkedIn.ClientSecret,
        };
        using var first = await Http.PostAsync(_linkedIn.TokenUrl, new FormUrlEncodedContent(exchange));
        using var second = await Http.PostAsync(_linkedIn.TokenUrl, new FormUrlEncodedContent(exchange));

        Assert.Equal(("unauthorized_scope_error", "s1"), (error["error"].ToString(), error["state"].ToString()));
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.BadRequest), (first.StatusCode, second.StatusCode));
    }

    private OAuthEndpoints Endpoints(IOAuthPlatform platform)
        => platform.Endpoints with { AuthorizeUrl = _linkedIn.AuthorizeUrl, TokenUrl = _linkedIn.TokenUrl, ApiBaseUrl = _linkedIn.BaseUrl };

    /// <summary>The browser's consent, then the code exchanged as the flow does it: the client's id and secret in the form body.</summary>
    private async Task<OAuthGrant> GrantAsync(IReadOnlyList<string> scopes)
    {
        const string redirect = "https://app.example/oauth/callback";
        string code = await AuthorizeAsync(scopes, redirect);
        var token = await TokenAsync(new()
        {
            ["grant_type"] = "authorization_code", ["code"] = code, ["redirect_uri"] = redirect, ["client_id"] = FakeLinkedIn.ClientId,
            ["client_secret"] = FakeLinkedIn.ClientSecret,
        });
        return new OAuthGrant(token["access_token"]!.GetValue<string>(), token["refresh_token"]?.GetValue<string>(),
            DateTimeOffset.UtcNow.AddSeconds(token["expires_in"]!.GetValue<long>()), token["scope"]?.GetValue<string>());
    }

    private async Task<string> AuthorizeAsync(IReadOnlyList<string> scopes, string redirect)
    {
        using var consent = await Http.GetAsync(QueryHelpers.AddQueryString(_linkedIn.AuthorizeUrl.AbsoluteUri, new Dictionary<string, string?>
        {
            ["response_type"] = "code", ["client_id"] = FakeLinkedIn.ClientId, ["redirect_uri"] = redirect, ["state"] = "st-42",
            ["scope"] = string.Join(' ', scopes),
        }));
        Assert.Equal(HttpStatusCode.Redirect, consent.StatusCode);
        var location = consent.Headers.Location!;
        Assert.StartsWith(redirect, location.AbsoluteUri, StringComparison.Ordinal);
        var query = QueryHelpers.ParseQuery(location.Query);
        Assert.Equal("st-42", query["state"].ToString());
        return query["code"].ToString();
    }

    private async Task<JsonObject> TokenAsync(Dictionary<string, string> form)
    {
        using var response = await Http.PostAsync(_linkedIn.TokenUrl, new FormUrlEncodedContent(form));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }
}
