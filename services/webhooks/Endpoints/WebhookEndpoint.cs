namespace ScheduledPosts.Webhooks.Endpoints;

/// <summary>A subscriber's URL and the event types it receives. The signing secret is never part of it.</summary>
public sealed record WebhookEndpoint(
    string Id,
    string WorkspaceId,
    string Url,
    IReadOnlyList<string> Events,
    string? Description,
    bool Enabled,
    DateTimeOffset CreatedAt);

/// <summary>A new endpoint with its secret, which is shown to the caller this once.</summary>
public sealed record CreatedEndpoint(WebhookEndpoint Endpoint, string Secret);
