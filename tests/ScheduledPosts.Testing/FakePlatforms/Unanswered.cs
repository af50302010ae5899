using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;

namespace ScheduledPosts.Testing.FakePlatforms;

/// <summary>
/// Requests an in-memory fake platform leaves unanswered, and the client that gives up on exactly those. A connector's
/// timeout is its HttpClient's, which runs for every request: a short one (to keep a test quick) also times out the
/// requests the fake does answer whenever the machine is slow, and the test then fails on a timeout it did not script.
/// Here the client keeps its long timeout and gives up on a request the moment the fake starts to leave it unanswered;
/// HttpClient reports that as its own timeout (a <see cref="TaskCanceledException"/> around a <see cref="TimeoutException"/>),
/// so the connector sees what a platform that never answers makes it see.
/// </summary>
public sealed class Unanswered
{
    private const string Header = "x-fake-request";
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _waiting = new();

    /// <summary>Server side: leave this request unanswered until its client gives up.</summary>
    public async Task HangAsync(HttpContext context)
    {
        if (context.Request.Headers[Header].FirstOrDefault() is { } id && _waiting.TryGetValue(id, out var client))
        {
            await client.CancelAsync();
        }

        await Task.Delay(Timeout.Infinite, context.RequestAborted);
    }

    /// <summary>Client side: a handler that gives up on a request as soon as <see cref="HangAsync"/> holds it.</summary>
    public DelegatingHandler CreateHandler(HttpMessageHandler inner) => new GivingUp(this, inner);

    private sealed class GivingUp(Unanswered fake, HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            string id = Guid.NewGuid().ToString("N");
            using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            fake._waiting[id] = giveUp;
            request.Headers.Add(Header, id);
            try
            {
                return await base.SendAsync(request, giveUp.Token);
            }
            finally
            {
                fake._waiting.TryRemove(id, out _);
            }
        }
    }
}
