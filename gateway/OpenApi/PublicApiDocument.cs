using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using ScheduledPosts.ServiceDefaults.OpenApi;
using Yarp.ReverseProxy;

using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Gateway.OpenApi;

public sealed class PublicApiOptions
{
    public const string Section = "OpenApi";

    /// <summary>How long the merged document is reused before the services are asked again.</summary>
    public TimeSpan CacheDuration { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long to wait for a service's document.</summary>
    public TimeSpan FetchTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>A service behind the gateway could not describe itself.</summary>
public sealed class ServiceDocumentUnavailableException(string service, Exception? inner = null)
    : Exception($"The API description of the {service} service is unavailable.", inner)
{
    public string Service { get; } = service;
}

/// <summary>
/// The public <c>/openapi.json</c>: the gateway's own document merged with each proxied cluster's document, fetched
/// from one of its destinations at <see cref="OpenApiDefaults.DocumentPath"/> with the gateway's signed service
/// identity. Which paths are public comes from the proxy routes, so the document follows the configuration.
/// </summary>
public sealed class PublicApiDocument(
    IProxyStateLookup proxy,
    IHttpClientFactory httpClients,
    [FromKeyedServices(OpenApiDefaults.DocumentName)] IOpenApiDocumentProvider own,
    IOptions<PublicApiOptions> options,
    TimeProvider clock) : IDisposable
{
    public const string HttpClientName = "openapi";

    private readonly SemaphoreSlim _building = new(1, 1);
    private (JsonObject Document, DateTimeOffset Until)? _cached;

    /// <summary>The merged document (a copy the caller may change), rebuilt when the cached one is older than the cache duration.</summary>
    public async Task<JsonObject> GetAsync(CancellationToken ct)
    {
        if (_cached is { } fresh && fresh.Until > clock.GetUtcNow())
        {
            return (JsonObject)fresh.Document.DeepClone();
        }

        await _building.WaitAsync(ct);
        try
        {
            if (_cached is not { } cached || cached.Until <= clock.GetUtcNow())
            {
                _cached = cached = (await BuildAsync(ct), clock.GetUtcNow() + options.Value.CacheDuration);
            }

            return (JsonObject)cached.Document.DeepClone();
        }
        finally
        {
            _building.Release();
        }
    }

    private async Task<JsonObject> BuildAsync(CancellationToken ct)
    {
        var gateway = await own.GetOpenApiDocumentAsync(ct);
        var gatewayJson = (JsonObject)JsonNode.Parse(await gateway.SerializeAsJsonAsync(OpenApiSpecVersion.OpenApi3_1, ct))!;

        var routes = proxy.GetRoutes()
            // The gRPC routes are described by reflection on the gRPC port, not here.
            .Where(r => r.Config.ClusterId is not null && r.Config.Match.Path is { } path && !Proxy.GrpcPort.IsPublicApi(path))
            .Select(r => (r.Config.RouteId, Cluster: r.Config.ClusterId!,
                Matcher: new TemplateMatcher(TemplateParser.Parse(r.Config.Match.Path!), new RouteValueDictionary())))
            .ToList();
        var services = await Task.WhenAll(proxy.GetClusters()
            .Where(cluster => routes.Any(r => r.Cluster == cluster.ClusterId))
            .OrderBy(cluster => cluster.ClusterId, StringComparer.Ordinal)
            .Select(async cluster =>
            {
                var clusterRoutes = routes.Where(r => r.Cluster == cluster.ClusterId).ToList();
                return new ServiceDocument(cluster.ClusterId, await FetchAsync(cluster, ct),
                    path => clusterRoutes.FirstOrDefault(r => r.Matcher.TryMatch(path, [])).RouteId);
            }));
        return OpenApiMerger.Merge(gatewayJson, services);
    }

    private async Task<JsonObject> FetchAsync(Yarp.ReverseProxy.Model.ClusterState cluster, CancellationToken ct)
    {
        var destinations = cluster.DestinationsState?.AvailableDestinations is { Count: > 0 } available
            ? available
            : [.. cluster.Destinations.Values];
        Exception? last = null;
        foreach (var destination in destinations)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(options.Value.FetchTimeout);
            try
            {
                var address = new Uri(new Uri(destination.Model.Config.Address), OpenApiDefaults.DocumentPath);
                using var request = new HttpRequestMessage(HttpMethod.Get, address);
                // The cluster is the service: its id is the audience of the gateway's token.
                request.Options.Set(InternalIdentityHandler.AudienceOption, cluster.ClusterId);
                using var response = await httpClients.CreateClient(HttpClientName).SendAsync(request, timeout.Token);
                response.EnsureSuccessStatusCode();
                if (JsonNode.Parse(await response.Content.ReadAsStringAsync(timeout.Token)) is JsonObject document)
                {
                    return document;
                }
            }
            catch (Exception e) when (e is HttpRequestException or System.Text.Json.JsonException
                                          || (e is OperationCanceledException && !ct.IsCancellationRequested))
            {
                last = e;
            }
        }

        throw new ServiceDocumentUnavailableException(cluster.ClusterId, last);
    }

    public void Dispose() => _building.Dispose();
}
