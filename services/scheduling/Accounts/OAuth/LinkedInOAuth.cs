using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Contracts.Platforms;

namespace ScheduledPosts.Scheduling.Accounts.OAuth;

/// <summary>
/// LinkedIn's 3-legged OAuth 2.0 (https://learn.microsoft.com/linkedin/shared/authentication/authorization-code-flow):
/// the member consents at <c>www.linkedin.com/oauth/v2/authorization</c>; the code is exchanged at
/// <c>/oauth/v2/accessToken</c> with <c>client_id</c> and <c>client_secret</c> in the form body. Access tokens live 60
/// days; refresh tokens (365 days, not renewed by a refresh) come only to apps LinkedIn approved for them. LinkedIn
/// takes PKCE only from native apps it enabled it for, with loopback redirects
/// (…/authentication/authorization-code-flow-native): a web app's flow has none, so <see cref="OAuthEndpoints.Pkce"/> is false.
/// </summary>
public abstract class LinkedInOAuth : IOAuthPlatform
{
    /// <summary>The <c>LinkedIn-Version</c> of the <c>/rest</c> calls made here (YYYYMM).</summary>
    public const string Version = "202605";

    public static readonly Uri AuthorizeUrl = new("https://www.linkedin.com/oauth/v2/authorization");
    public static readonly Uri TokenUrl = new("https://www.linkedin.com/oauth/v2/accessToken");
    public static readonly Uri ApiBaseUrl = new("https://api.linkedin.com/");

    public abstract string Platform { get; }

    public OAuthEndpoints Endpoints => new(AuthorizeUrl, TokenUrl, ApiBaseUrl, Scopes, " ", Pkce: false, OAuthClientAuthentication.RequestBody);

    protected abstract IReadOnlyList<string> Scopes { get; }

    public abstract Task<IReadOnlyList<OAuthAccount>> AccountsAsync(HttpClient http, OAuthEndpoints endpoints, OAuthClient client, OAuthGrant grant,
        CancellationToken cancellationToken);

    /// <summary>A GET with the grant's token; its JSON object, or an <see cref="OAuthException"/> saying what LinkedIn answered.</summary>
    protected static async Task<JsonObject> GetAsync(HttpClient http, OAuthEndpoints endpoints, OAuthGrant grant, string pathAndQuery, bool rest, string what,
        CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(endpoints.ApiBaseUrl, pathAndQuery));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", grant.AccessToken);
        if (rest)
        {
            request.Headers.Add("LinkedIn-Version", Version);
            request.Headers.Add("X-Restli-Protocol-Version", "2.0.0");
        }

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new OAuthException($"LinkedIn could not be reached to read {what}.", e);
        }

        using (response)
        {
            JsonObject? body = null;
            try
            {
                body = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken)) as JsonObject;
            }
            catch (JsonException)
            {
            }

            if (response.IsSuccessStatusCode && body is not null)
            {
                return body;
            }

            string? code = body?["code"] is JsonValue c && c.TryGetValue(out string? s) ? s : null;
            throw new OAuthException(response.StatusCode switch
            {
                HttpStatusCode.Unauthorized => $"LinkedIn refused the new access token when reading {what} ({(int)response.StatusCode} {code}).",
                HttpStatusCode.Forbidden => $"LinkedIn did not allow reading {what} ({(int)response.StatusCode} {code}): the app may lack the product or scope.",
                _ => $"LinkedIn answered {(int)response.StatusCode} {code} when reading {what}.",
            });
        }
    }

    protected static string? Text(JsonNode? node) => node is JsonValue value && value.TryGetValue(out string? text) && text.Length > 0 ? text : null;
}

/// <summary>
/// <c>linkedin_person</c>: the member who consented. "Share on LinkedIn" gives <c>w_member_social</c>; "Sign In with
/// LinkedIn using OpenID Connect" gives <c>openid</c> and <c>profile</c>, with which <c>GET /v2/userinfo</c> names the
/// member (<c>sub</c>, <c>name</c>). Credentials: <c>author</c> = <c>urn:li:person:{sub}</c>.
/// </summary>
public sealed class LinkedInPersonOAuth : LinkedInOAuth
{
    public override string Platform => Platforms.LinkedInPerson;

    protected override IReadOnlyList<string> Scopes { get; } = ["openid", "profile", "w_member_social"];

    public override async Task<IReadOnlyList<OAuthAccount>> AccountsAsync(HttpClient http, OAuthEndpoints endpoints, OAuthClient client, OAuthGrant grant,
        CancellationToken cancellationToken)
    {
        var userinfo = await GetAsync(http, endpoints, grant, "v2/userinfo", rest: false, "the member's profile", cancellationToken);
        string sub = Text(userinfo["sub"]) ?? throw new OAuthException("LinkedIn's userinfo named no member (no sub).");
        string name = Text(userinfo["name"]) ?? string.Join(' ', new[] { Text(userinfo["given_name"]), Text(userinfo["family_name"]) }.OfType<string>());
        string author = $"urn:li:person:{sub}";
        return [new OAuthAccount(sub, name.Length > 0 ? name : author, name.Length > 0 ? name : null, new Dictionary<string, string> { ["author"] = author })];
    }
}

/// <summary>
/// <c>linkedin_company</c>: every organisation page the member may post for. The Community Management API gives
/// <c>w_organization_social</c> (post), <c>r_organization_social</c> (read the page's posts, for the lookup before a
/// retry) and <c>rw_organization_admin</c> (the member's page roles, "Page Access management" in the product's guide).
/// <c>GET /rest/organizationAcls?q=roleAssignee</c> lists the member's approved roles; an <c>ADMINISTRATOR</c> or <c>CONTENT_ADMINISTRATOR</c> may post (a
/// <c>DIRECT_SPONSORED_CONTENT_POSTER</c> makes sponsored content, which this product does not publish). Each
/// organisation is named by <c>GET /rest/organizations/{id}</c> (<c>localizedName</c>). Credentials: <c>author</c> =
/// <c>urn:li:organization:{id}</c>.
/// </summary>
public sealed class LinkedInCompanyOAuth : LinkedInOAuth
{
    private const string OrganizationPrefix = "urn:li:organization:";

    // The page roles whose holders may post as the page (organization-access-control: "create and manage Page content").
    private static readonly HashSet<string> PostingRoles = new(StringComparer.Ordinal) { "ADMINISTRATOR", "CONTENT_ADMINISTRATOR" };

    public override string Platform => Platforms.LinkedInCompany;

    protected override IReadOnlyList<string> Scopes { get; } = ["rw_organization_admin", "w_organization_social", "r_organization_social"];

    public override async Task<IReadOnlyList<OAuthAccount>> AccountsAsync(HttpClient http, OAuthEndpoints endpoints, OAuthClient client, OAuthGrant grant,
        CancellationToken cancellationToken)
    {
        var organizations = new List<string>();
        const int count = 100;
        for (int start = 0; ; start += count)
        {
            var page = await GetAsync(http, endpoints, grant, $"rest/organizationAcls?q=roleAssignee&state=APPROVED&count={count}&start={start}",
                rest: true, "the member's page roles", cancellationToken);
            var elements = page["elements"] as JsonArray ?? throw new OAuthException("LinkedIn answered the page roles without elements.");
            foreach (var acl in elements.OfType<JsonObject>())
            {
                if (Text(acl["state"]) is "APPROVED" && Text(acl["role"]) is { } role && PostingRoles.Contains(role)
                    && Text(acl["organization"]) is { } urn && urn.StartsWith(OrganizationPrefix, StringComparison.Ordinal)
                    && !organizations.Contains(urn))
                {
                    organizations.Add(urn);
                }
            }

            if (elements.Count < count || start + count >= 1000)
            {
                break;
            }
        }

        var accounts = new List<OAuthAccount>();
        foreach (string urn in organizations)
        {
            string id = urn[OrganizationPrefix.Length..];
            var organization = await GetAsync(http, endpoints, grant, $"rest/organizations/{Uri.EscapeDataString(id)}", rest: true, $"the organisation {id}",
                cancellationToken);
            string name = Text(organization["localizedName"]) ?? Text(organization["vanityName"]) ?? urn;
            accounts.Add(new OAuthAccount(id, Text(organization["vanityName"]) ?? name, name, new Dictionary<string, string> { ["author"] = urn }));
        }

        return accounts;
    }
}
