using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ScheduledPosts.Testing;

namespace ScheduledPosts.EndToEnd.Tests;

public sealed record ReceivedWebhook(IReadOnlyDictionary<string, string> Headers, string Body);

/// <summary>A subscriber's HTTP endpoint on loopback that records every webhook it receives and answers 204.</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    public ConcurrentQueue<ReceivedWebhook> Received { get; } = new();

    public Uri Url { get; }

    private WebhookReceiver(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public static async Task<WebhookReceiver> StartAsync()
    {
        WebhookReceiver? receiver = null;
        var (app, baseUrl) = await LoopbackHost.StartAsync(host => host.MapPost("/hook", async (HttpRequest request) =>
        {
            using var reader = new StreamReader(request.Body);
            string body = await reader.ReadToEndAsync();
            receiver!.Received.Enqueue(new ReceivedWebhook(
                request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString()), body));
            return Results.NoContent();
        }));
        receiver = new WebhookReceiver(app, new Uri(baseUrl, "/hook"));
        return receiver;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
