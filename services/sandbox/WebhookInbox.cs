using System.Collections.Concurrent;

namespace ScheduledPosts.Sandbox;

public sealed record ReceivedWebhook(string? WebhookId, string? WebhookTimestamp, string? WebhookSignature, string Body, DateTimeOffset ReceivedAt);

/// <summary>A webhook subscriber for the demo: records what the webhooks service delivers, so a walk-through needs no receiver of its own.</summary>
public sealed class WebhookInbox(TimeProvider clock)
{
    private readonly ConcurrentQueue<ReceivedWebhook> _received = new();

    public void Record(HttpRequest request, string body) => _received.Enqueue(new ReceivedWebhook(
        request.Headers["webhook-id"], request.Headers["webhook-timestamp"], request.Headers["webhook-signature"], body, clock.GetUtcNow()));

    public IReadOnlyList<ReceivedWebhook> All() => [.. _received];
}
