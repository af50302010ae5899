using Grpc.Health.V1;
using Grpc.Reflection;
using Grpc.Reflection.V1Alpha;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Gateway.Proxy;

/// <summary>
/// The gateway's gRPC port for internal callers (docs/api.md#grpc): its own Kestrel endpoint (<c>Kestrel:Endpoints:Grpc</c>,
/// HTTP/2), authenticated and limited like REST; the public services are proxied routes (<c>ReverseProxy</c> config, to
/// the services' gRPC ports), the publisher's <c>Targets</c> never one. Server reflection and <c>grpc.health.v1</c> are
/// answered here, without a key: reflection describes the public services only, health says SERVING once the services
/// behind answer their <c>/readyz</c>.
/// </summary>
public static class GrpcPort
{
    /// <summary>The public gRPC services, as reflection lists them (with health and reflection themselves).</summary>
    public static readonly IReadOnlyList<Google.Protobuf.Reflection.ServiceDescriptor> PublicServices =
    [
        Contracts.Scheduling.V1.Posts.Descriptor,
        Contracts.Scheduling.V1.SocialAccounts.Descriptor,
        Contracts.Scheduling.V1.Media.Descriptor,
        Contracts.Scheduling.V1.Settings.Descriptor,
        Contracts.Webhooks.V1.WebhookEndpoints.Descriptor,
        Contracts.Webhooks.V1.WebhookDeliveries.Descriptor,
    ];

    /// <summary>The package prefix of every public gRPC path (<c>/scheduledposts.scheduling.v1.Posts/GetPost</c>).</summary>
    public const string PathPrefix = "/scheduledposts.";

    public static bool IsPublicApi(PathString path) => path.Value?.StartsWith(PathPrefix, StringComparison.Ordinal) == true;

    public static IServiceCollection AddGrpcPort(this IServiceCollection services)
    {
        // Unknown services fall through to the proxied routes rather than gRPC's own UNIMPLEMENTED.
        services.AddGrpc(o => o.IgnoreUnknownServices = true);
        services.AddSingleton(new ReflectionServiceImpl(
            [.. PublicServices, Health.Descriptor, ServerReflection.Descriptor]));
        // The gateway's own readiness (its database: the API keys) and the services'.
        services.AddGrpcHealthChecks(o => o.Services.Map("", r => r.Tags.Contains(ServicesReady.Tag) || r.Tags.Contains("ready")));
        services.AddOptions<ServicesReadyOptions>().BindConfiguration(ServicesReadyOptions.Section);
        services.AddHttpClient(ServicesReady.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(2));
        services.AddHealthChecks().AddCheck<ServicesReady>("services", tags: [ServicesReady.Tag]);
        return services;
    }

    public static WebApplication MapGrpcPort(this WebApplication app)
    {
        app.MapGrpcService<ReflectionServiceImpl>().AllowAnonymous();
        app.MapGrpcHealthChecksService().AllowAnonymous();
        return app;
    }
}

public sealed class ServicesReadyOptions
{
    public const string Section = "GrpcPort";

    /// <summary>The <c>/readyz</c> of each service behind the gRPC port; by default the REST clusters' destinations.</summary>
    public List<Uri> ReadinessUrls { get; set; } = [];
}

/// <summary>Healthy when every service behind the gRPC port says it is ready.</summary>
public sealed class ServicesReady(IHttpClientFactory clients, IOptions<ServicesReadyOptions> options, IConfiguration configuration) : IHealthCheck
{
    public const string Tag = "grpc-services";
    public const string HttpClientName = "services-ready";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var urls = options.Value.ReadinessUrls.Count > 0 ? options.Value.ReadinessUrls : DefaultUrls();
        var client = clients.CreateClient(HttpClientName);
        foreach (var url in urls)
        {
            try
            {
                using var response = await client.GetAsync(url, cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    return HealthCheckResult.Unhealthy($"{url} answered {(int)response.StatusCode}.");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return HealthCheckResult.Unhealthy($"{url} did not answer.");
            }
        }

        return HealthCheckResult.Healthy();
    }

    // The REST clusters' destinations: the same processes serve the gRPC ports.
    private List<Uri> DefaultUrls() =>
    [
        .. new[] { "scheduling", "webhooks" }
            .Select(c => configuration[$"ReverseProxy:Clusters:{c}:Destinations:default:Address"])
            .OfType<string>()
            .Select(a => new Uri(new Uri(a), "/readyz")),
    ];
}
