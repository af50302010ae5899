namespace ScheduledPosts.Scheduling.Posts;

public sealed record CreatePostRequest(
    string? Caption,
    List<CreateTargetRequest?>? Targets,
    string? ScheduledFor,
    string? Timezone,
    Dictionary<string, string>? Metadata,
    List<string?>? MediaIds);

public sealed record CreateTargetRequest(string? SocialAccountId, string? CaptionOverride, string? FirstComment);

/// <summary>PATCH of a draft: an absent (or null) field is left as it is.</summary>
public sealed record UpdatePostRequest(
    string? Caption,
    List<CreateTargetRequest?>? Targets,
    string? Timezone,
    Dictionary<string, string>? Metadata,
    List<string?>? MediaIds);

public sealed record ScheduleRequest(string? ScheduledFor);

public sealed record CancelRequest(string? Reason);

public sealed record RetryRequest(bool? IncludeUnknown);

public sealed record PostResult(PostView Post, string ETag);

public sealed record DeletedTarget(string Id, string Platform, string Status);

public sealed record DeletedPost(string Id, bool Deleted, IReadOnlyList<DeletedTarget> Targets);

public sealed record AuditEntry(string Action, string? ActorKeyId, string? Reason, DateTimeOffset? OldTime, DateTimeOffset? NewTime, DateTimeOffset At);

public sealed record PostPage(IReadOnlyList<PostView> Data, string? NextCursor, bool HasMore);
