namespace ScheduledPosts.Scheduling.Accounts.OAuth;

/// <summary>
/// What one platform's OAuth 2.0 authorization-code flow needs beyond RFC 6749 and RFC 7636 (PKCE): its endpoints and
/// scopes, how the client authenticates at the token endpoint, and which accounts a grant reaches. The flow itself —
/// the state, the code exchange, the refresh, storing the tokens — is <c>OAuthFlow</c>'s, the same for every platform.
/// </summary>
public interface IOAuthPlatform
{
    /// <summary>The platform's name as stored with a social account (<c>x</c>, <c>linkedin_person</c>, …).</summary>
    string Platform { get; }

    /// <summary>The platform's published endpoints and the scopes to ask for; a deployment may point the URLs elsewhere.</summary>
    OAuthEndpoints Endpoints { get; }

    /// <summary>
    /// The accounts <paramref name="grant"/> reaches (a person's own account; or the pages or organisations it may post
    /// for), each with what its connector needs besides the access token. Throws <see cref="OAuthException"/> when the
    /// platform refuses or answers nothing usable.
    /// </summary>
    /// <param name="http">A client for the platform's API, with no base address.</param>
    /// <param name="endpoints">The endpoints as this deployment configured them (the API base URL included).</param>
    /// <param name="client">The deployment's app credentials, for platforms that exchange the grant further (Facebook's long-lived tokens).</param>
    Task<IReadOnlyList<OAuthAccount>> AccountsAsync(HttpClient http, OAuthEndpoints endpoints, OAuthClient client, OAuthGrant grant, CancellationToken cancellationToken);
}

/// <param name="AuthorizeUrl">Where the user's browser is sent to grant access.</param>
/// <param name="TokenUrl">Where a code, and later a refresh token, is exchanged for tokens.</param>
/// <param name="ApiBaseUrl">The API the accounts are looked up in.</param>
/// <param name="Scopes">The scopes to ask for, joined with <paramref name="ScopeSeparator"/>.</param>
/// <param name="Pkce">The platform takes <c>code_challenge</c> (S256) and <c>code_verifier</c>.</param>
/// <param name="ClientAuthentication">How the client proves itself at the token endpoint.</param>
public sealed record OAuthEndpoints(
    Uri AuthorizeUrl,
    Uri TokenUrl,
    Uri ApiBaseUrl,
    IReadOnlyList<string> Scopes,
    string ScopeSeparator = " ",
    bool Pkce = true,
    OAuthClientAuthentication ClientAuthentication = OAuthClientAuthentication.BasicHeader);

/// <summary>How a confidential client authenticates at the token endpoint (RFC 6749 §2.3.1).</summary>
public enum OAuthClientAuthentication
{
    /// <summary><c>Authorization: Basic base64(client_id:client_secret)</c>.</summary>
    BasicHeader,

    /// <summary><c>client_id</c> and <c>client_secret</c> in the form body.</summary>
    RequestBody,
}

/// <summary>A deployment's app registration on a platform (configuration <c>OAuth:Platforms:{platform}</c>).</summary>
public sealed record OAuthClient(string ClientId, string ClientSecret);

/// <summary>What the token endpoint granted.</summary>
/// <param name="ExpiresAt">When the access token expires; null when the platform did not say.</param>
public sealed record OAuthGrant(string AccessToken, string? RefreshToken, DateTimeOffset? ExpiresAt, string? Scope);

/// <summary>One account a grant reaches.</summary>
/// <param name="ExternalId">The platform's id of the account (a user id, a page id, an organisation URN).</param>
/// <param name="Handle">How people know it (<c>@name</c>, the page's name).</param>
/// <param name="Credentials">
/// What the connector needs besides the access token (<c>userId</c>, <c>author</c>, <c>pageId</c>, …); stored encrypted
/// with it and handed to the publisher at claim time.
/// </param>
/// <param name="AccessToken">
/// The account's own token when it has one apart from the grant's (a Facebook Page's token), with no refresh: it is
/// stored instead of the grant's tokens.
/// </param>
public sealed record OAuthAccount(string ExternalId, string Handle, string? DisplayName, IReadOnlyDictionary<string, string> Credentials, string? AccessToken = null);

/// <summary>The platform refused a step of the flow, or answered nothing usable; the message is safe to show the user.</summary>
public sealed class OAuthException(string message, Exception? inner = null) : Exception(message, inner);
