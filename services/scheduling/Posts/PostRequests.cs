namespace ScheduledPosts.Scheduling.Posts;

// A parameter with a default is optional in the OpenAPI document; one without is required (the service answers 422
// without it). Every field is nullable here so a missing one reaches the rules, which name it.

public sealed record CreatePostRequest(
    string? Caption,
    List<CreateTargetRequest?>? Targets,
    string? ScheduledFor = null,
    string? Timezone = null,
    Dictionary<string, string>? Metadata = null,
    List<string?>? MediaIds = null,
    bool? Queue = null);

public sealed record CreateTargetRequest(string? SocialAccountId, string? CaptionOverride = null, string? FirstComment = null);

/// <summary>PATCH of a draft: an absent (or null) field is left as it is.</summary>
public sealed record UpdatePostRequest(
    string? Caption = null,
    List<CreateTargetRequest?>? Targets = null,
    string? Timezone = null,
    Dictionary<string, string>? Metadata = null,
    List<string?>? MediaIds = null);

public sealed record ScheduleRequest(string? ScheduledFor);

public sealed record CancelRequest(string? Reason = null);

public sealed record DeclineRequest(string? Reason);

public sealed record RetryRequest(bool? IncludeUnknown = null);

public sealed record PostResult(PostView Post, string ETag);

public sealed record DeletedTarget(string Id, string Platform, string Status);

public sealed record DeletedPost(string Id, bool Deleted, IReadOnlyList<DeletedTarget> Targets);

public sealed record AuditEntry(string Action, string? ActorKeyId, string? Reason, DateTimeOffset? OldTime, DateTimeOffset? NewTime, DateTimeOffset At);

public sealed record PostPage(IReadOnlyList<PostView> Data, string? NextCursor, bool HasMore);
