using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>What the service behind the gateway received.</summary>
public sealed record EchoedRequest(string Method, string PathAndQuery, IReadOnlyDictionary<string, string[]> Headers)
{
    /// <summary>The values of a header (names are lowercase), or none.</summary>
    public string[] Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var values) ? values : [];
}

/// <summary>
/// A stand-in for a service behind the gateway: a real Kestrel server on a free loopback port that answers every
/// request with what it received, and echoes <c>X-Request-Id</c> back as the services do.
/// </summary>
public sealed class EchoUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EchoUpstream(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    public ConcurrentQueue<EchoedRequest> Received { get; } = new();

    public static async Task<EchoUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        // The test output holds the gateway's appsettings.json (and its Kestrel endpoint): read no configuration.
        builder.Configuration.Sources.Clear();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        EchoUpstream? upstream = null;
        app.Run(async context =>
        {
            var request = new EchoedRequest(context.Request.Method, $"{context.Request.Path}{context.Request.QueryString}",
                context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.Select(v => v ?? "").ToArray()));
            upstream!.Received.Enqueue(request);
            context.Response.Headers["X-Request-Id"] = context.Request.Headers["X-Request-Id"];
            await context.Response.WriteAsJsonAsync(request);
        });
        await app.StartAsync();
        upstream = new EchoUpstream(app, new Uri(app.Urls.Single()));
        return upstream;
    }

    /// <summary>An address where nothing listens: a port just taken from the OS and given back.</summary>
    public static Uri ClosedAddress()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new Uri($"http://127.0.0.1:{port}");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
