namespace ScheduledPosts.ServiceDefaults.Identity;

/// <summary>
/// Who is calling, as established by the gateway (an API key of a workspace) or by a sibling service.
/// Services trust only an identity signed with the shared internal secret (<see cref="InternalIdentityCodec"/>).
/// </summary>
public sealed record InternalIdentity(string WorkspaceId, string KeyId, IReadOnlyList<string> Scopes)
{
    public const string Header = "X-SP-Identity";

    /// <summary>The scope of service-to-service calls (the publisher claiming targets).</summary>
    public const string InternalScope = "internal";

    public bool HasScope(string scope) => Scopes.Contains(scope);

    public static InternalIdentity Service(string name) => new("", $"svc_{name}", [InternalScope]);
}
