using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using ScheduledPosts.ServiceDefaults;

namespace ScheduledPosts.Testing;

/// <summary>
/// A service as the real ones are built — <c>AddServiceDefaults</c>, <c>UseServiceDefaults</c>, <c>MapDefaultEndpoints</c>
/// — with endpoints of the test's choosing, on a free loopback port of a real Kestrel server.
/// </summary>
public sealed class FakeService : IAsyncDisposable
{
    /// <summary>The internal identity key of every fake service (and of the gateway under test that calls them).</summary>
    public const string InternalSecret = "test-internal-secret-0123456789-abcdefghijklmnop";

    private readonly WebApplication _app;

    private FakeService(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    public static async Task<FakeService> StartAsync(Action<IEndpointRouteBuilder> endpoints, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        // A test's output folder may hold a service's appsettings.json: read only what the test gives.
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>())
        {
            ["Internal:Secret"] = InternalSecret,
        });
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.AddServiceDefaults();
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
