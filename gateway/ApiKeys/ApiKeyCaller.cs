using ScheduledPosts.Gateway.Dialects;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Gateway.ApiKeys;

/// <summary>The active API key a request was authenticated with: what the gateway knows of the caller.</summary>
public sealed record ApiKeyCaller(string KeyId, string WorkspaceId, string Role, IReadOnlyList<string> Scopes)
{
    /// <summary>What the services are told (signed): workspace, key and the scopes it may use, never its role or secret.</summary>
    public InternalIdentity Identity { get; } = new(WorkspaceId, KeyId, Scopes);

    public bool HasScope(string scope) => Scopes.Contains(ScopeAliases.Canonical(scope));

    /// <summary>The caller the API key scheme authenticated this request as, if any.</summary>
    public static ApiKeyCaller? Of(HttpContext context)
        => context.User.Identities.OfType<ApiKeyIdentity>().FirstOrDefault()?.Caller;
}
