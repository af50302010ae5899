using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ScheduledPosts.Webhooks.Tests;

/// <param name="OpenOnArrival">How many requests to the path were open when this one arrived, itself included.</param>
public sealed record ReceivedRequest(
    string Path, string Method, string? ContentType, IReadOnlyDictionary<string, string> Headers, string Body, DateTimeOffset ReceivedAt,
    int OpenOnArrival)
{
    public string Header(string name) => Headers.TryGetValue(name, out var value) ? value : "";
}

/// <summary>
/// A real HTTP server on loopback that records every webhook and answers with scripted status codes (200 by
/// default), after a delay (a slow subscriber), or never at all (a hanging subscriber) until it is disposed. It notes
/// how many requests each path had open at once.
/// </summary>
public sealed class Receiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedRequest> _requests = new();
    private readonly ConcurrentDictionary<string, ConcurrentQueue<int>> _scripts = new();
    private readonly ConcurrentDictionary<string, bool> _hanging = new();
    private readonly ConcurrentDictionary<string, TimeSpan> _delays = new();
    private readonly ConcurrentDictionary<string, (int Open, int Max)> _concurrency = new();
    private readonly CancellationTokenSource _stopping = new();

    private Receiver(IPAddress address)
    {
        var builder = WebApplication.CreateSlimBuilder();
        // The service's appsettings.json is copied next to the tests; its Kestrel endpoints are not the receiver's.
        builder.Configuration.Sources.Clear();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(address, 0));
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            string body = await reader.ReadToEndAsync();
            string path = context.Request.Path;
            var (open, _) = _concurrency.AddOrUpdate(path, (1, 1), (_, c) => (c.Open + 1, Math.Max(c.Max, c.Open + 1)));
            try
            {
                await RespondAsync(context, path, body, open);
            }
            finally
            {
                _concurrency.AddOrUpdate(path, (0, 0), (_, c) => (c.Open - 1, c.Max));
            }
        });
    }

    private async Task RespondAsync(HttpContext context, string path, string body, int open)
    {
        _requests.Enqueue(new ReceivedRequest(
            path, context.Request.Method, context.Request.ContentType,
            context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString()), body, DateTimeOffset.UtcNow, open));
        if (_hanging.ContainsKey(path))
        {
            using var released = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
            await Task.Delay(Timeout.Infinite, released.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            context.Abort(); // never a response, not even on the way out
            return;
        }

        if (_delays.TryGetValue(path, out var delay))
        {
            await Task.Delay(delay, context.RequestAborted);
        }

        context.Response.StatusCode = _scripts.TryGetValue(path, out var script) && script.TryDequeue(out int status) ? status : 200;
    }

    public static async Task<Receiver> StartAsync(IPAddress? address = null)
    {
        var receiver = new Receiver(address ?? IPAddress.Loopback);
        await receiver._app.StartAsync();
        return receiver;
    }

    /// <summary>A fresh path on this server, answering <paramref name="statuses"/> in turn, then 200.</summary>
    public string NewUrl(params int[] statuses)
    {
        string path = $"/hooks/{Guid.NewGuid():N}";
        _scripts[path] = new ConcurrentQueue<int>(statuses);
        return BaseUrl + path;
    }

    /// <summary>A fresh path whose requests are recorded and then never answered (until the receiver is disposed).</summary>
    public string NewHangingUrl()
    {
        string path = $"/hang/{Guid.NewGuid():N}";
        _hanging[path] = true;
        return BaseUrl + path;
    }

    /// <summary>A fresh path that answers 200, each time after <paramref name="delay"/>: a slow but healthy subscriber.</summary>
    public string NewSlowUrl(TimeSpan delay)
    {
        string url = NewUrl();
        _delays[new Uri(url).AbsolutePath] = delay;
        return url;
    }

    /// <summary>The most requests to <paramref name="url"/> that were open at the same time.</summary>
    public int MaxConcurrent(string url) => _concurrency.TryGetValue(new Uri(url).AbsolutePath, out var c) ? c.Max : 0;

    public string BaseUrl => _app.Urls.First().TrimEnd('/');

    public int Port => new Uri(BaseUrl).Port;

    public IReadOnlyList<ReceivedRequest> RequestsTo(string url)
    {
        string path = new Uri(url).AbsolutePath;
        return [.. _requests.Where(r => r.Path == path)];
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }
}
