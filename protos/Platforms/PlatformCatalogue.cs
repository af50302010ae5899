namespace ScheduledPosts.Contracts.Platforms;

/// <summary>How an account of a platform is connected.</summary>
public static class ConnectMethod
{
    /// <summary>The OAuth 2.0 authorization code flow, through the platform's consent page.</summary>
    public const string OAuth2 = "oauth2";

    /// <summary>A handle and an app password the user makes in the platform's settings (Bluesky).</summary>
    public const string AppPassword = "app_password";

    /// <summary>An access token pasted as the account's credentials (Mastodon: made in the instance's settings).</summary>
    public const string AccessToken = "access_token";

    /// <summary>Nothing to connect: the project's own sandbox platform.</summary>
    public const string None = "none";
}

/// <summary>A platform the product knows of, supported or not yet, and how its accounts connect.</summary>
public sealed record PlatformEntry(string Platform, string Connect)
{
    /// <summary>The publisher has a connector for it: its capabilities are in <see cref="Platforms.Known"/>.</summary>
    public bool Supported => Platforms.Known.ContainsKey(Platform);

    public PlatformCapabilities? Capabilities => Platforms.Known.GetValueOrDefault(Platform);
}

/// <summary>
/// Every platform <c>GET /v1/platforms</c> lists: the eleven of the scheduling APIs we learn from, under our snake_case
/// names, then Mastodon and the sandbox. A platform is supported once its connector is in <see cref="Platforms.Known"/>.
/// </summary>
public static class PlatformCatalogue
{
    public static IReadOnlyList<PlatformEntry> All { get; } =
    [
        new("instagram", ConnectMethod.OAuth2),
        new("facebook_page", ConnectMethod.OAuth2),
        new("x", ConnectMethod.OAuth2),
        new("linkedin_person", ConnectMethod.OAuth2),
        new("linkedin_company", ConnectMethod.OAuth2),
        new("tiktok_business", ConnectMethod.OAuth2),
        new("tiktok_personal", ConnectMethod.OAuth2),
        new("youtube", ConnectMethod.OAuth2),
        new("pinterest", ConnectMethod.OAuth2),
        new("threads", ConnectMethod.OAuth2),
        new("bluesky", ConnectMethod.AppPassword),
        new(Platforms.Mastodon, ConnectMethod.AccessToken),
        new(Platforms.Sandbox, ConnectMethod.None),
    ];

    /// <summary>How <paramref name="platform"/>'s accounts connect (a <see cref="ConnectMethod"/>); null for a platform not listed.</summary>
    public static string? ConnectMethodOf(string platform)
        => All.FirstOrDefault(p => string.Equals(p.Platform, platform, StringComparison.OrdinalIgnoreCase))?.Connect;

    /// <summary>
    /// Whether the platform's accounts hold credentials the platform can refuse (an OAuth grant, an app password, a
    /// pasted token): when it does, the account must be renewed or connected again.
    /// </summary>
    public static bool HoldsCredentials(string platform) => ConnectMethodOf(platform) is ConnectMethod.OAuth2 or ConnectMethod.AppPassword or ConnectMethod.AccessToken;
}
