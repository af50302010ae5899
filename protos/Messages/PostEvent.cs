using System.Text.Json;

namespace ScheduledPosts.Contracts.Messages;

/// <summary>
/// A domain event about a post, carried to subscribers as a webhook. Concrete events derive from it;
/// MassTransit binds each derived type's exchange to this one, so the webhooks service consumes them all here.
/// </summary>
public record PostEvent
{
    /// <summary>The event id (<c>evt_…</c>): the webhook id, stable across redeliveries.</summary>
    public string EventId { get; init; } = "";

    /// <summary>The webhook event type, e.g. <c>post.cancelled</c>.</summary>
    public string Type { get; init; } = "";

    public string WorkspaceId { get; init; } = "";
    public string PostId { get; init; } = "";
    public long ScheduleVersion { get; init; }
    public DateTimeOffset OccurredAt { get; init; }

    /// <summary>The post as the REST API shows it at the moment of the event.</summary>
    public JsonElement Data { get; init; }
}

/// <summary>
/// The domain events one transaction wrote together (a batch of claims or of reports), carried as one message: one outbox
/// row, one broker message and one delivery to the webhooks service instead of one each. Consumers take each of
/// <see cref="Events"/> as if it had come alone; the envelope's own <see cref="PostEvent"/> fields are empty. It derives from
/// <see cref="PostEvent"/> only for its routing: it reaches every queue bound to <see cref="PostEvent"/>'s exchange, as the
/// single events do, so no consumer misses one whatever the order in which the services first start.
/// </summary>
public sealed record PostEventBatch : PostEvent
{
    private static readonly JsonElement Nothing = JsonDocument.Parse("{}").RootElement.Clone();

    // An unset JsonElement cannot be written: the envelope's data is an empty object.
    public PostEventBatch() => Data = Nothing;

    public IReadOnlyList<PostEvent> Events { get; init; } = [];
}

public sealed record PostScheduled : PostEvent;

public sealed record PostCancelled : PostEvent;

public sealed record PostPublishing : PostEvent;

public sealed record PostPublished : PostEvent;

public sealed record PostPartiallyPublished : PostEvent;

public sealed record PostFailed : PostEvent;

/// <summary>A reschedule: <c>Data.previousScheduledFor</c> holds the old time.</summary>
public sealed record PostRescheduled : PostEvent;

public sealed record PostDeleted : PostEvent;

/// <summary><c>target.published</c>: <c>Data.targetId</c> says which target.</summary>
public sealed record PostTargetPublished : PostEvent;

/// <summary><c>target.failed</c>: <c>Data.targetId</c> says which target.</summary>
public sealed record PostTargetFailed : PostEvent;

/// <summary><c>post.approval_requested</c>: scheduled by a key without <c>posts:approve</c> while the workspace requires approval.</summary>
public sealed record PostApprovalRequested : PostEvent;

/// <summary><c>post.approved</c>: on the schedule now.</summary>
public sealed record PostApproved : PostEvent;

/// <summary><c>post.declined</c>: <c>Data.reason</c> says why.</summary>
public sealed record PostDeclined : PostEvent;

/// <summary><c>target.unpublished</c>: the target's copy was removed from its platform; <c>Data.targetId</c> says which target.</summary>
public sealed record PostTargetUnpublished : PostEvent;
