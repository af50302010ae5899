using System.Globalization;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.Gateway.Dialects;
using Yarp.ReverseProxy.Configuration;

namespace ScheduledPosts.Gateway.Proxy;

/// <summary>
/// Refuses a proxy configuration with a route that would escape the API key check: every route lives under
/// <c>/v1/</c> (or a <see cref="Dialect"/>'s base path) or is one public gRPC service's (never the publisher's <c>Targets</c>), and names the policy of the resource whose scopes guard it (<c>"AuthorizationPolicy": "posts"</c>, see
/// <see cref="ScopePolicies"/>) — except the one kind of route a browser reaches without a key: <c>"anonymous"</c>, only
/// for GET on one fixed path, naming the service scope the gateway states for it (<c>Metadata.ServiceScope</c>, one of
/// <see cref="AnonymousScopes"/>: the OAuth callback, bound by the signed state it carries). A route may
/// raise its request body limit (<c>"MaxRequestBodyBytes": "104857600"</c>, for uploads); it must be a positive number.
/// </summary>
public sealed partial class RouteResourceFilter : IProxyConfigFilter
{
    public const string MaxBodyBytesKey = "MaxRequestBodyBytes";

    /// <summary>The service scopes an anonymous route may state: only the OAuth callback's.</summary>
    public static readonly IReadOnlyList<string> AnonymousScopes = [ServiceDefaults.Identity.InternalScopes.OAuthCallback];

    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel) => new(cluster);

    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel)
    {
        string path = route.Match.Path ?? throw new InvalidOperationException($"Proxy route '{route.RouteId}' must match a path.");
        if (GrpcPort.IsPublicApi(path))
        {
            // A public gRPC service: all its methods, each under its resource's read or write scope (Scopes.Required).
            if (!GrpcServiceRoute().IsMatch(path) || path.Contains(".Targets/", StringComparison.Ordinal))
            {
                throw new InvalidOperationException(
                    $"Proxy route '{route.RouteId}' must match one public gRPC service's methods (/scheduledposts.<area>.v<n>.<Service>/{{method}}); the publisher's Targets is never routed.");
            }
        }
        else if (!(path.StartsWith("/v1/", StringComparison.Ordinal) || Dialect.All.Any(d => path.StartsWith($"{d.BasePath}/", StringComparison.Ordinal))))
        {
            throw new InvalidOperationException(
                $"Proxy route '{route.RouteId}' must match a path under /v1/, a dialect's base path ({string.Join(", ", Dialect.All.Select(d => d.BasePath))}) or a public gRPC service.");
        }

        if (route.AuthorizationPolicy is "anonymous")
        {
            if (route.Metadata?.GetValueOrDefault(GatewayTransforms.ServiceScopeMetadata) is not { } scope || !AnonymousScopes.Contains(scope)
                || path.Contains('{', StringComparison.Ordinal) || route.Match.Methods is not ["GET"])
            {
                throw new InvalidOperationException(
                    $"Proxy route '{route.RouteId}' is anonymous: it must be GET on one fixed path and name its Metadata.{GatewayTransforms.ServiceScopeMetadata}, one of: {string.Join(", ", AnonymousScopes)}.");
            }
        }
        else if (route.AuthorizationPolicy is not { } policy || !Scopes.Resources.Contains(policy))
        {
            throw new InvalidOperationException(
                $"Proxy route '{route.RouteId}' must name its resource's AuthorizationPolicy, one of: {string.Join(", ", Scopes.Resources)}.");
        }

        if (route.Metadata?.ContainsKey(MaxBodyBytesKey) == true && MaxBodyBytes(route) is null)
        {
            throw new InvalidOperationException($"Proxy route '{route.RouteId}' has a Metadata.{MaxBodyBytesKey} that is not a positive number of bytes.");
        }

        return new(route);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^/scheduledposts\.[a-z]+\.v[0-9]+\.[A-Z][A-Za-z]+/\{method\}$")]
    private static partial System.Text.RegularExpressions.Regex GrpcServiceRoute();

    /// <summary>The route's declared body limit, or null when it declares none (or an invalid one).</summary>
    public static long? MaxBodyBytes(RouteConfig route)
        => route.Metadata?.GetValueOrDefault(MaxBodyBytesKey) is { } value
           && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long bytes) && bytes > 0
            ? bytes
            : null;
}
