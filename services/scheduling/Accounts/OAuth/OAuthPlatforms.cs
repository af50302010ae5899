using Microsoft.Extensions.Options;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Scheduling.Accounts.OAuth;

/// <summary>A platform that connects with OAuth, as this deployment configured it.</summary>
public sealed record ConfiguredOAuthPlatform(IOAuthPlatform Platform, OAuthEndpoints Endpoints, OAuthClient Client);

/// <summary>The platforms whose accounts connect with OAuth, and which of them this deployment has an app for.</summary>
public sealed class OAuthPlatforms(IEnumerable<IOAuthPlatform> platforms, IOptions<OAuthOptions> options)
{
    private readonly Dictionary<string, IOAuthPlatform> _byName = platforms.ToDictionary(p => p.Platform, StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether <paramref name="platform"/> connects with OAuth at all (configured here or not).</summary>
    public bool UsesOAuth(string platform) => _byName.ContainsKey(platform);

    /// <summary>The platform with this deployment's app; a 422 naming what is missing when it cannot connect here.</summary>
    public ConfiguredOAuthPlatform Get(string platform)
    {
        if (!_byName.TryGetValue(platform, out var oauth))
        {
            throw ApiException.Validation("platform", $"A {platform} account connects with its credentials: POST /v1/social-accounts (GET /v1/platforms says how).");
        }

        return Find(oauth.Platform) ?? throw ApiException.Validation("platform",
            $"This deployment has no {oauth.Platform} app configured (OAuth:Platforms:{oauth.Platform}:ClientId and ClientSecret, and OAuth:CallbackUrl); ask its operator.");
    }

    /// <summary>The platform with this deployment's app, or null when it is not configured.</summary>
    public ConfiguredOAuthPlatform? Find(string platform)
    {
        var o = options.Value;
        if (!_byName.TryGetValue(platform, out var oauth) || o.CallbackUrl is null
            || !o.Platforms.TryGetValue(oauth.Platform, out var app) || app.ClientId.Length == 0 || app.ClientSecret.Length == 0)
        {
            return null;
        }

        var defaults = oauth.Endpoints;
        var endpoints = defaults with
        {
            AuthorizeUrl = app.AuthorizeUrl ?? defaults.AuthorizeUrl,
            TokenUrl = app.TokenUrl ?? defaults.TokenUrl,
            ApiBaseUrl = app.ApiBaseUrl ?? defaults.ApiBaseUrl,
            Scopes = app.Scopes is { Length: > 0 } scopes ? scopes : defaults.Scopes,
        };
        return new ConfiguredOAuthPlatform(oauth, endpoints, new OAuthClient(app.ClientId, app.ClientSecret));
    }
}
