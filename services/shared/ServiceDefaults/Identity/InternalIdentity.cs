namespace ScheduledPosts.ServiceDefaults.Identity;

/// <summary>
/// Who is calling, as established by the gateway (an API key of a workspace) or by a sibling service with its own key
/// pair (the publisher). Services trust only an identity in a token signed by an issuer whose public key they hold,
/// issued for them, for this request's method and path, moments ago (<see cref="InternalTokenValidator"/>).
/// </summary>
public sealed record InternalIdentity(string WorkspaceId, string KeyId, IReadOnlyList<string> Scopes)
{
    public const string Header = "X-SP-Identity";

    public bool HasScope(string scope) => Scopes.Contains(scope);

    /// <summary>A service calling for itself: no workspace, only its own narrow scopes.</summary>
    public static InternalIdentity Service(string name, params string[] scopes) => new("", $"svc_{name}", scopes);
}

/// <summary>The processes that sign internal identities: each has its own key pair (<c>Internal:SigningKeys:&lt;issuer&gt;</c>).</summary>
public static class InternalIssuers
{
    /// <summary>Signs the identity of every request it forwards (the API key's workspace and scopes).</summary>
    public const string Gateway = "gateway";

    /// <summary>Signs its own calls to the scheduling service's <c>Targets</c> API.</summary>
    public const string Publisher = "publisher";
}

/// <summary>The scopes only services hold (the API key scopes are <c>&lt;resource&gt;:read|write</c>).</summary>
public static class InternalScopes
{
    /// <summary>Claim, renew and complete targets, read their media: the publisher's, and only the publisher's.</summary>
    public const string Targets = "targets";

    /// <summary>
    /// Complete an OAuth connection (<c>GET /v1/oauth/callback</c>): the gateway's identity for the one route a browser
    /// reaches without an API key; what it may do is bound by the signed state it carries.
    /// </summary>
    public const string OAuthCallback = "oauth_callback";

    /// <summary>
    /// Read a service's operational status (<c>GET /admin/status</c>): the gateway's identity for a caller that presented
    /// the admin token, never an API key's.
    /// </summary>
    public const string Admin = "admin";
}
