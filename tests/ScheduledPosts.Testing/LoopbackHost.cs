using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ScheduledPosts.Testing;

/// <summary>A small HTTP server on a free loopback port: the webhook subscribers the tests and the benchmark stand up.</summary>
public static class LoopbackHost
{
    /// <summary>Starts a server with the routes <paramref name="map"/> adds; returns it and its base URL.</summary>
    public static Task<(WebApplication App, Uri BaseUrl)> StartAsync(Action<WebApplication> map) => StartAsync(IPAddress.Loopback, map);

    /// <summary>The same on another loopback address (127.0.0.2 stands in for a public host where 127.0.0.1 must not be reached).</summary>
    public static async Task<(WebApplication App, Uri BaseUrl)> StartAsync(IPAddress address, Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        // The services' appsettings.json files land in the test outputs; none of their Kestrel endpoints apply here.
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{address}:0");
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new Uri(bound));
    }
}
