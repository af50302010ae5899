using ScheduledPosts.Gateway.ApiKeys;
using Yarp.ReverseProxy.Configuration;

namespace ScheduledPosts.Gateway.Proxy;

/// <summary>
/// Refuses a proxy configuration with a route that would escape the API key check: every route lives under
/// <c>/v1/</c> and names the resource whose scopes guard it (<c>"Metadata": {"Resource": "posts"}</c>).
/// </summary>
public sealed class RouteResourceFilter : IProxyConfigFilter
{
    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel) => new(cluster);

    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel)
    {
        if (route.Match.Path?.StartsWith("/v1/", StringComparison.Ordinal) != true)
        {
            throw new InvalidOperationException($"Proxy route '{route.RouteId}' must match a path under /v1/.");
        }

        string? resource = route.Metadata?.GetValueOrDefault(ResourceScope.MetadataKey);
        if (resource is null || !Scopes.Resources.Contains(resource))
        {
            throw new InvalidOperationException(
                $"Proxy route '{route.RouteId}' must declare Metadata.{ResourceScope.MetadataKey}, one of: {string.Join(", ", Scopes.Resources)}.");
        }

        return new(route);
    }
}
