namespace ScheduledPosts.Webhooks.Endpoints;

/// <summary>A subscriber's URL and the event types it receives. The signing secret is never part of it.</summary>
public sealed record WebhookEndpoint(
    string Id,
    string WorkspaceId,
    string Url,
    IReadOnlyList<string> Events,
    string? Description,
    bool Enabled,
    string? DisabledReason,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>An endpoint with its new secret, shown to the caller this once (on create, on rotation).</summary>
public sealed record EndpointWithSecret(WebhookEndpoint Endpoint, string Secret, DateTimeOffset? PreviousSecretExpiresAt)
{
    public override string ToString() => $"{Endpoint} (secret redacted)";
}

/// <summary>A partial update: null leaves a field as it is; <see cref="Description"/> is cleared by "" or null when <see cref="SetDescription"/>.</summary>
public sealed record EndpointChanges(
    string? Url = null,
    IReadOnlyList<string>? Events = null,
    bool SetDescription = false,
    string? Description = null,
    bool? Enabled = null);
