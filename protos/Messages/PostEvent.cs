using System.Text.Json;

namespace ScheduledPosts.Contracts.Messages;

/// <summary>
/// A domain event about a post, carried to subscribers as a webhook. Concrete events derive from it;
/// MassTransit binds each derived exchange to this one, so the webhooks service consumes them all here.
/// </summary>
public record PostEvent
{
    /// <summary>The event id (<c>evt_…</c>): the webhook id, stable across redeliveries.</summary>
    public required string EventId { get; init; }

    /// <summary>The webhook event type, e.g. <c>post.cancelled</c>.</summary>
    public required string Type { get; init; }

    public required string WorkspaceId { get; init; }
    public required string PostId { get; init; }
    public required long ScheduleVersion { get; init; }
    public required DateTimeOffset OccurredAt { get; init; }

    /// <summary>The post as the REST API shows it at the moment of the event.</summary>
    public required JsonElement Data { get; init; }
}

public sealed record PostCancelled : PostEvent;
