using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Repository.Tests;

/// <summary>
/// What <c>kubectl apply --dry-run=client</c> needs from an API server, on a loopback port: discovery (which kinds a
/// Kubernetes 1.25 or later serves, at which versions, namespaced or not) and 404 for every object, as in an empty
/// cluster. kubectl maps each object to a resource through discovery and reads the live object before it computes the
/// apply, even in client dry-run, so it cannot run with no server at all; it is given no OpenAPI document (none is
/// shipped by a package here), hence <c>--validate=false</c>.
/// </summary>
public sealed class KubernetesApiStandIn : IAsyncDisposable
{
    private sealed record Resource(string Name, string Kind, bool Namespaced);

    /// <summary>Built-in kinds at the versions served since Kubernetes 1.25 (policy/v1beta1, autoscaling/v2beta2, extensions are gone).</summary>
    private static readonly Dictionary<string, Resource[]> Served = new()
    {
        ["v1"] =
        [
            new("configmaps", "ConfigMap", true), new("secrets", "Secret", true), new("services", "Service", true),
            new("persistentvolumeclaims", "PersistentVolumeClaim", true), new("serviceaccounts", "ServiceAccount", true),
            new("pods", "Pod", true), new("namespaces", "Namespace", false), new("persistentvolumes", "PersistentVolume", false),
        ],
        ["apps/v1"] = [new("deployments", "Deployment", true), new("statefulsets", "StatefulSet", true), new("daemonsets", "DaemonSet", true)],
        ["policy/v1"] = [new("poddisruptionbudgets", "PodDisruptionBudget", true)],
        ["autoscaling/v2"] = [new("horizontalpodautoscalers", "HorizontalPodAutoscaler", true)],
        ["networking.k8s.io/v1"] = [new("ingresses", "Ingress", true), new("networkpolicies", "NetworkPolicy", true)],
        ["batch/v1"] = [new("jobs", "Job", true), new("cronjobs", "CronJob", true)],
    };

    private readonly WebApplication _app;

    private KubernetesApiStandIn(WebApplication app, Uri baseUrl)
    {
        _app = app;
        BaseUrl = baseUrl;
    }

    public Uri BaseUrl { get; }

    public static async Task<KubernetesApiStandIn> StartAsync()
    {
        var (app, baseUrl) = await LoopbackHost.StartAsync(app => app.MapGet("/{**path}", (HttpContext context) => Answer(context.Request.Path)));
        return new KubernetesApiStandIn(app, baseUrl);
    }

    /// <summary>A kubeconfig that points kubectl here and nowhere else.</summary>
    public string Kubeconfig() => $"""
        apiVersion: v1
        kind: Config
        clusters:
          - name: stand-in
            cluster:
              server: {BaseUrl.ToString().TrimEnd('/')}
        contexts:
          - name: stand-in
            context:
              cluster: stand-in
              namespace: default
        current-context: stand-in
        users: []
        """;

    private static IResult Answer(string path)
    {
        var groups = Served.Keys.Where(gv => gv.Contains('/', StringComparison.Ordinal)).ToList();
        if (path == "/api")
        {
            return Results.Json(new { kind = "APIVersions", versions = new[] { "v1" }, serverAddressByClientCIDRs = Array.Empty<object>() });
        }

        if (path == "/apis")
        {
            return Results.Json(new
            {
                kind = "APIGroupList",
                apiVersion = "v1",
                groups = groups.GroupBy(gv => gv.Split('/')[0]).Select(g => new
                {
                    name = g.Key,
                    versions = g.Select(gv => new { groupVersion = gv, version = gv.Split('/')[1] }),
                    preferredVersion = new { groupVersion = g.First(), version = g.First().Split('/')[1] },
                }),
            });
        }

        string? groupVersion = path == "/api/v1" ? "v1" : groups.FirstOrDefault(gv => path == "/apis/" + gv);
        if (groupVersion is not null)
        {
            return Results.Json(new
            {
                kind = "APIResourceList",
                apiVersion = "v1",
                groupVersion,
                resources = Served[groupVersion].Select(r => new
                {
                    name = r.Name,
                    singularName = r.Kind.ToLowerInvariant(),
                    namespaced = r.Namespaced,
                    kind = r.Kind,
                    verbs = new[] { "create", "delete", "get", "list", "patch", "update", "watch" },
                }),
            });
        }

        // Every object (and namespace) is absent: kubectl's apply then creates it, in dry run.
        return Results.Json(new { kind = "Status", apiVersion = "v1", status = "Failure", reason = "NotFound", code = 404, message = $"{path} not found" },
            statusCode: StatusCodes.Status404NotFound);
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
