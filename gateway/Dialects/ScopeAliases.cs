using ScheduledPosts.Gateway.ApiKeys;

namespace ScheduledPosts.Gateway.Dialects;

/// <summary>
/// Other APIs' names for our scopes, accepted wherever a scope is named (minting a key, checking one) and stored as
/// ours: a key minted with <c>publish:write</c> holds <c>posts:write</c>.
/// </summary>
public static class ScopeAliases
{
    /// <summary>Layers' scope for scheduling, cancelling and rescheduling posts.</summary>
    public const string LayersPublishWrite = "publish:write";

    private static readonly Dictionary<string, string> Aliases = new(StringComparer.Ordinal)
    {
        [LayersPublishWrite] = Scopes.PostsWrite,
    };

    /// <summary>Our name for <paramref name="scope"/>: itself, unless it is an alias.</summary>
    public static string Canonical(string scope) => Aliases.GetValueOrDefault(scope, scope);
}
