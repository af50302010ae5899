using System.Text.Json.Nodes;
using ScheduledPosts.ServiceDefaults.Identity;
using Yarp.ReverseProxy;

namespace ScheduledPosts.Gateway.Admin;

/// <summary>
/// <c>GET /admin/status</c>: each service's own <c>/admin/status</c> (scheduling: queues, outbox, targets, lag; webhooks:
/// deliveries, endpoints), fetched from one of its cluster's destinations with the gateway's identity for the admin token
/// (scope <see cref="InternalScopes.Admin"/>: each service checks it again). A service that does not answer is listed
/// under <c>unavailable</c> and the others are still shown: the status is most wanted when something is down.
/// </summary>
public sealed class AdminStatus(IProxyStateLookup proxy, IHttpClientFactory httpClients)
{
    public const string HttpClientName = "admin-status";

    /// <summary>The services with a status, by their cluster id (which is also their audience).</summary>
    public static readonly IReadOnlyList<string> Services = ["scheduling", "webhooks"];

    /// <summary>The gateway calling for a caller that presented the admin token.</summary>
    public static readonly InternalIdentity Identity = InternalIdentity.Service(InternalIssuers.Gateway, InternalScopes.Admin);

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public async Task<JsonObject> GetAsync(CancellationToken ct)
    {
        var parts = await Task.WhenAll(Services.Select(async service => (Service: service, Result: await FetchAsync(service, ct))));
        var status = new JsonObject();
        var unavailable = new JsonArray();
        foreach (var (service, result) in parts)
        {
            status[service] = result.Status;
            if (result.Error is { } error)
            {
                unavailable.Add(new JsonObject { ["service"] = service, ["reason"] = error });
            }
        }

        status["unavailable"] = unavailable;
        return status;
    }

    private async Task<(JsonObject? Status, string? Error)> FetchAsync(string service, CancellationToken ct)
    {
        if (!proxy.TryGetCluster(service, out var cluster))
        {
            return (null, "Not configured in ReverseProxy:Clusters.");
        }

        var destinations = cluster.DestinationsState?.AvailableDestinations is { Count: > 0 } available ? available : [.. cluster.Destinations.Values];
        string error = "The cluster has no destinations.";
        foreach (var destination in destinations)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(Timeout);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(destination.Model.Config.Address), "/admin/status"));
                request.Options.Set(InternalIdentityHandler.AudienceOption, service);
                using var response = await httpClients.CreateClient(HttpClientName).SendAsync(request, timeout.Token);
                if (!response.IsSuccessStatusCode)
                {
                    error = $"It answered {(int)response.StatusCode}.";
                    continue;
                }

                if (System.Text.Json.JsonSerializer.Deserialize<JsonObject>(await response.Content.ReadAsStringAsync(timeout.Token)) is { } status)
                {
                    return (status, null);
                }
            }
            catch (Exception e) when (e is HttpRequestException or System.Text.Json.JsonException
                                          || (e is OperationCanceledException && !ct.IsCancellationRequested))
            {
                error = e is OperationCanceledException ? $"It did not answer within {Timeout.TotalSeconds:0} s." : "It could not be reached.";
            }
        }

        return (null, error);
    }
}
