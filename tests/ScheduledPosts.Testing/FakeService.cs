using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Testing;

/// <summary>
/// A service as the real ones are built — <c>AddServiceDefaults</c>, <c>UseServiceDefaults</c>, <c>MapDefaultEndpoints</c>
/// — with endpoints of the test's choosing, on a free loopback port of a real Kestrel server.
/// </summary>
public sealed class FakeService : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeService(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    /// <summary>
    /// Starts a service that accepts internal identities for <paramref name="audience"/> from the gateway (the tests'
    /// <see cref="InternalKeys.Gateway"/> key pair) and the publisher.
    /// </summary>
    public static async Task<FakeService> StartAsync(Action<IEndpointRouteBuilder> endpoints, IReadOnlyDictionary<string, string?>? settings = null,
        string audience = "scheduling")
    {
        var builder = WebApplication.CreateSlimBuilder();
        // A test's output folder may hold a service's appsettings.json: read only what the test gives.
        builder.Configuration.Sources.Clear();
        var configuration = new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>());
        foreach (var (key, value) in InternalKeys.Settings.Where(s => s.Key.StartsWith("Internal:TrustedKeys:", StringComparison.Ordinal)))
        {
            configuration.TryAdd(key, value);
        }

        builder.Configuration.AddInMemoryCollection(configuration);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.AddServiceDefaults();
        builder.AddInternalIdentity(audience, InternalIssuers.Gateway, InternalIssuers.Publisher);
        var app = builder.Build();
        app.UseServiceDefaults();
        endpoints(app);
        app.MapDefaultEndpoints();
        await app.StartAsync();
        return new FakeService(app, new Uri(app.Urls.Single()));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
