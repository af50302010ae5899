using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.ServiceDefaults.Outbound;

namespace ScheduledPosts.Scheduling.Accounts.OAuth;

/// <summary>
/// Facebook Login's manually built flow for Pages (services/publisher/Connectors/Facebook/README.md lists the pages):
/// the Login dialog at <c>www.facebook.com/{version}/dialog/oauth</c>, the code exchanged at
/// <c>graph.facebook.com/{version}/oauth/access_token</c> with client_id and client_secret as parameters. The user token
/// is then made long-lived (<c>grant_type=fb_exchange_token</c>), and <c>GET /me/accounts</c> lists the Pages it reaches,
/// each with its own Page access token: each Page is one account, with that token (no expiry, no refresh; an invalid
/// one means connecting the Page again) and <c>pageId</c>.
/// </summary>
/// <remarks>
/// PKCE is off: the manual flow documents no code_challenge; Meta documents one only for its OIDC variant of the flow,
/// marked as still in testing, for identity (scope <c>openid</c>), not for Page permissions.
/// </remarks>
public sealed class FacebookOAuth(string graphVersion = FacebookOAuth.DefaultGraphVersion) : IOAuthPlatform
{
    /// <summary>The Graph API version of the dialog and token URLs, as the publisher's <c>Facebook:GraphVersion</c>.</summary>
    public const string DefaultGraphVersion = "v26.0";

    /// <summary>List the Pages (pages_show_list), read their feeds for the lookup before a retry (pages_read_engagement), post (pages_manage_posts).</summary>
    public static readonly IReadOnlyList<string> Scopes = ["pages_show_list", "pages_read_engagement", "pages_manage_posts"];

    // me/accounts is paged; a user with more Pages than this is rare, and the rest would only be left out.
    private const int MaxPages = 10;

    public string Platform => Platforms.FacebookPage;

    public OAuthEndpoints Endpoints => new(
        new Uri($"https://www.facebook.com/{graphVersion}/dialog/oauth"),
        new Uri($"https://graph.facebook.com/{graphVersion}/oauth/access_token"),
        new Uri($"https://graph.facebook.com/{graphVersion}/"),
        Scopes,
        ScopeSeparator: ",",
        Pkce: false,
        ClientAuthentication: OAuthClientAuthentication.RequestBody);

    public async Task<IReadOnlyList<OAuthAccount>> AccountsAsync(HttpClient http, OAuthEndpoints endpoints, OAuthClient client, OAuthGrant grant,
        CancellationToken cancellationToken)
    {
        // A long-lived user token makes Page tokens that do not expire (Meta: "Get Long-Lived Tokens").
        var exchanged = await GetAsync(http, Query(endpoints.TokenUrl,
            ("grant_type", "fb_exchange_token"), ("client_id", client.ClientId), ("client_secret", client.ClientSecret), ("fb_exchange_token", grant.AccessToken)),
            "making the user's token long-lived", cancellationToken);
        if (exchanged["access_token"]?.GetValue<string>() is not { Length: > 0 } userToken)
        {
            throw new OAuthException("Facebook answered the long-lived token exchange without a token.");
        }

        var accounts = new List<OAuthAccount>();
        string? after = null;
        for (int round = 0; round < MaxPages; round++)
        {
            var parameters = new List<(string, string)> { ("fields", "id,name,access_token,tasks"), ("limit", "100"), ("access_token", userToken) };
            if (after is not null)
            {
                parameters.Add(("after", after));
            }

            var answer = await GetAsync(http, Query(new Uri(endpoints.ApiBaseUrl, "me/accounts"), [.. parameters]), "listing the Pages", cancellationToken);
            foreach (var page in (answer["data"] as JsonArray ?? []).OfType<JsonObject>())
            {
                if (page["id"]?.GetValue<string>() is not { Length: > 0 } id || page["access_token"]?.GetValue<string>() is not { Length: > 0 } token)
                {
                    continue;
                }

                // Posting as the Page needs the CREATE_CONTENT task; a Page where the user may only, say, analyse is left out.
                if (page["tasks"] is JsonArray tasks && !tasks.Any(t => t?.GetValue<string>() == "CREATE_CONTENT"))
                {
                    continue;
                }

                string name = page["name"]?.GetValue<string>() is { Length: > 0 } n ? n : id;
                accounts.Add(new OAuthAccount(id, name, name, new Dictionary<string, string> { ["pageId"] = id }, token));
            }

            after = answer["paging"]?["next"] is null ? null : answer["paging"]?["cursors"]?["after"]?.GetValue<string>();
            if (after is null)
            {
                break;
            }
        }

        return accounts.Count > 0
            ? accounts
            : throw new OAuthException("The Facebook user granted access to no Page they can post to: choose at least one Page you manage when Facebook asks.");
    }

    private static Uri Query(Uri url, params (string Name, string Value)[] parameters)
        => new($"{url}?{string.Join('&', parameters.Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value)}"))}");

    private static async Task<JsonObject> GetAsync(HttpClient http, Uri url, string what, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await http.GetAsync(url, cancellationToken);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new OAuthException($"Facebook did not answer in time while {what}.", e);
        }
        catch (HttpRequestException e)
        {
            throw new OAuthException($"Facebook could not be reached while {what}.", e);
        }

        using (response)
        {
            JsonObject? body;
            try
            {
                body = await response.Content.ReadFromJsonAsync<JsonObject>(cancellationToken);
            }
            catch (Exception e) when (e is JsonException or NotSupportedException or HttpRequestException or IOException)
            {
                body = null;
            }

            if (response.IsSuccessStatusCode && body is not null && body["error"] is null)
            {
                return body;
            }

            // Graph's {"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}: the code and the sanitised message.
            var error = body?["error"] as JsonObject;
            string code = error?["code"] is JsonValue c && c.TryGetValue(out int number) ? $" #{number}" : "";
            string message = error?["message"] is JsonValue m && m.TryGetValue(out string? text) ? PlatformErrorText.Sanitise(text) : "";
            throw new OAuthException($"Facebook refused {what} ({PlatformErrorText.Status((int)response.StatusCode)}{code}{(message.Length > 0 ? $": {message}" : "")}).");
        }
    }
}
