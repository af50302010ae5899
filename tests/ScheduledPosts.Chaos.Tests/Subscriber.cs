using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Chaos.Tests;

/// <summary>
/// A webhook subscriber on loopback. It counts what it accepted by <c>webhook-id</c> (Standard Webhooks' dedupe key)
/// and can be taken down (it answers 503, as a receiver behind a load balancer whose backends are gone) and back up.
/// </summary>
public sealed class Subscriber : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, int> _accepted = new();
    private readonly ConcurrentDictionary<string, string> _types = new();
    private int _refused;

    public string Name { get; }

    public Uri Url { get; }

    /// <summary>While false, every request is answered 503 and not counted as received.</summary>
    public bool Up { get; set; } = true;

    /// <summary>How long each answer takes, so attempts are in flight when a test strikes.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>Event ids accepted (answered 2xx), each with how many times it was.</summary>
    public IReadOnlyDictionary<string, int> Accepted => _accepted;

    public string? TypeOf(string webhookId) => _types.GetValueOrDefault(webhookId);

    public int Refused => _refused;

    private Subscriber(string name, WebApplication app, Uri url)
    {
        Name = name;
        _app = app;
        Url = url;
    }

    public static async Task<Subscriber> StartAsync(string name)
    {
        Subscriber? subscriber = null;
        var (app, baseUrl) = await LoopbackHost.StartAsync(host =>
        {
            host.MapPost("/hook", async (HttpRequest request) =>
            {
                var self = subscriber!;
                if (self.Latency > TimeSpan.Zero)
                {
                    await Task.Delay(self.Latency, request.HttpContext.RequestAborted);
                }

                if (!self.Up)
                {
                    Interlocked.Increment(ref self._refused);
                    return Results.StatusCode(StatusCodes.Status503ServiceUnavailable);
                }

                using var reader = new StreamReader(request.Body);
                string body = await reader.ReadToEndAsync();
                string id = request.Headers["webhook-id"].ToString();
                self._types[id] = JsonNode.Parse(body)?["type"]?.GetValue<string>() ?? "";
                self._accepted.AddOrUpdate(id, 1, (_, n) => n + 1);
                return Results.NoContent();
            });
        });
        subscriber = new Subscriber(name, app, new Uri(baseUrl, "/hook"));
        return subscriber;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
