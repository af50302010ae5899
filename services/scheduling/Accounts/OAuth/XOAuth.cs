using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using ScheduledPosts.Contracts.Platforms;

namespace ScheduledPosts.Scheduling.Accounts.OAuth;

/// <summary>
/// X's OAuth 2.0 Authorization Code Flow with PKCE (https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code):
/// the consent page at <c>x.com/i/oauth2/authorize</c>, tokens from <c>api.x.com/2/oauth2/token</c> where a confidential
/// client authenticates with a Basic header; access tokens last two hours, a refresh token comes only with
/// <c>offline.access</c> and is replaced by a new one at each refresh. A grant reaches the one account that consented,
/// found with <c>GET /2/users/me</c>; its connector needs its <c>userId</c> to look posts up, and its <c>username</c> for links.
/// </summary>
public sealed class XOAuth : IOAuthPlatform
{
    /// <summary>Post and upload images as the user, read their posts (the lookup) and profile, and stay connected.</summary>
    public static readonly IReadOnlyList<string> Scopes = ["tweet.read", "tweet.write", "users.read", "media.write", "offline.access"];

    public string Platform => Platforms.X;

    public OAuthEndpoints Endpoints { get; } = new(
        new Uri("https://x.com/i/oauth2/authorize"),
        new Uri("https://api.x.com/2/oauth2/token"),
        new Uri("https://api.x.com/"),
        Scopes,
        ScopeSeparator: " ",
        Pkce: true,
        ClientAuthentication: OAuthClientAuthentication.BasicHeader);

    private sealed record MeAnswer(MeData? Data);

    private sealed record MeData(string? Id, string? Username, string? Name);

    public async Task<IReadOnlyList<OAuthAccount>> AccountsAsync(HttpClient http, OAuthEndpoints endpoints, OAuthClient client, OAuthGrant grant,
        CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(endpoints.ApiBaseUrl, "2/users/me"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", grant.AccessToken);
        MeData? me;
        try
        {
            using var response = await http.SendAsync(request, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new OAuthException($"X refused to name the account that granted access ({(int)response.StatusCode}).");
            }

            me = (await response.Content.ReadFromJsonAsync<MeAnswer>(JsonSerializerOptions.Web, cancellationToken))?.Data;
        }
        catch (Exception e) when (e is HttpRequestException or JsonException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new OAuthException("X could not be asked which account granted access.", e);
        }

        if (me is not { Id.Length: > 0, Username.Length: > 0 })
        {
            throw new OAuthException("X answered GET /2/users/me without the account's id and username.");
        }

        var credentials = new Dictionary<string, string>(StringComparer.Ordinal) { ["userId"] = me.Id, ["username"] = me.Username };
        return [new OAuthAccount(me.Id, $"@{me.Username}", me.Name is { Length: > 0 } name ? name : null, credentials)];
    }
}
