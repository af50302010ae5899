namespace ScheduledPosts.Scheduling.Posts;

/// <summary>A post as the REST API, gRPC and webhooks show it (docs/api.md#resources).</summary>
public sealed record PostView(
    string Id,
    string WorkspaceId,
    string Status,
    string Caption,
    string? Timezone,
    DateTimeOffset? ScheduledFor,
    DateTimeOffset? PublishedAt,
    DateTimeOffset? CancelledAt,
    string? CancelReason,
    long ScheduleVersion,
    IReadOnlyDictionary<string, string> Metadata,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string? CreatedByKeyId,
    IReadOnlyList<TargetView> Targets,
    IReadOnlyList<MediaView> Media);

public sealed record TargetView(
    string Id,
    string SocialAccountId,
    string Platform,
    string Status,
    string? CaptionOverride,
    string? FirstComment,
    DateTimeOffset? PublishedAt,
    string? ExternalPostId,
    string? ExternalUrl,
    string? ErrorCode,
    string? ErrorMessage,
    int AttemptCount,
    DateTimeOffset? LastAttemptAt);

public sealed record MediaView(string MediaId, int Order, string? AltText);
