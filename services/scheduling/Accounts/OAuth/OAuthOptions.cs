namespace ScheduledPosts.Scheduling.Accounts.OAuth;

/// <summary>Connecting accounts with OAuth 2.0 (docs/platforms.md): configuration section <c>OAuth</c>.</summary>
public sealed class OAuthOptions
{
    public const string Section = "OAuth";

    /// <summary>
    /// The public URL of <c>GET /v1/oauth/callback</c> as the platforms' apps are registered with it (the gateway's
    /// address, e.g. <c>https://posts.example.com/v1/oauth/callback</c>). Unset, no platform connects with OAuth.
    /// </summary>
    public Uri? CallbackUrl { get; set; }

    /// <summary>How long a started connection may take before its state is refused.</summary>
    public TimeSpan StateLifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Access tokens expiring within this time are refreshed by the background sweep.</summary>
    public TimeSpan RefreshAhead { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often the sweep looks for tokens to refresh.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long one request to a platform's token or account endpoint may take.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The deployment's app on each platform, by platform name; a platform not listed does not connect with OAuth.</summary>
    public Dictionary<string, OAuthPlatformOptions> Platforms { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public bool IsValid()
        => StateLifetime > TimeSpan.Zero && RefreshAhead >= TimeSpan.Zero && RefreshInterval > TimeSpan.Zero && Timeout > TimeSpan.Zero
        && (CallbackUrl is null || (CallbackUrl.IsAbsoluteUri && CallbackUrl.Scheme is "https" or "http"));
}

/// <summary>One platform's app registration; the URLs default to the platform's own (<see cref="IOAuthPlatform.Endpoints"/>).</summary>
public sealed class OAuthPlatformOptions
{
    public string ClientId { get; set; } = "";

    public string ClientSecret { get; set; } = "";

    public Uri? AuthorizeUrl { get; set; }

    public Uri? TokenUrl { get; set; }

    public Uri? ApiBaseUrl { get; set; }

    /// <summary>Scopes to ask for instead of the platform's defaults.</summary>
    public string[]? Scopes { get; set; }
}
