namespace ScheduledPosts.Gateway.ApiKeys;

/// <summary>Roles are scope bundles (docs/api.md#scopes-and-roles); a key can never do more than its role allows.</summary>
public static class Roles
{
    public const string Owner = "owner";
    public const string Admin = "admin";
    public const string Editor = "editor";
    public const string Viewer = "viewer";

    public static IReadOnlyList<string> ScopesOf(string role) => role switch
    {
        Owner or Admin => Scopes.All,
        Editor => [Scopes.PostsRead, Scopes.PostsWrite, Scopes.AccountsRead, Scopes.WebhooksRead, Scopes.SettingsRead],
        Viewer => [.. Scopes.All.Where(s => s.EndsWith(":read", StringComparison.Ordinal))],
        _ => [],
    };

    /// <summary>
    /// What a key may do: the scopes it was granted, capped by its role, so a stale or hand-edited row
    /// (or an unknown role) never widens access.
    /// </summary>
    public static IReadOnlyList<string> EffectiveScopes(string role, IEnumerable<string> granted)
    {
        var grantedSet = granted.ToHashSet(StringComparer.Ordinal);
        return [.. ScopesOf(role).Where(grantedSet.Contains)];
    }
}
