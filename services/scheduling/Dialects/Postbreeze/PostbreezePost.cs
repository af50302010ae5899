using ScheduledPosts.Scheduling.Posts;

namespace ScheduledPosts.Scheduling.Dialects.Postbreeze;

/// <summary>A post in Postbreeze's shape: the fields we have an equivalent for, enums uppercase, <c>scheduledAt</c>.</summary>
public sealed record PostbreezePost(
    string Id,
    string WorkspaceId,
    string? CreatedByUserId,
    string Status,
    string? Caption,
    DateTimeOffset? ScheduledAt,
    string? Timezone,
    bool CreatedViaApi,
    DateTimeOffset? DeletedAt,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    IReadOnlyList<PostbreezeTarget> Targets,
    IReadOnlyList<PostbreezeMedia> Media)
{
    /// <summary>Every post of ours came through an API (a key is the author); deleted ones are not found at all.</summary>
    public static PostbreezePost From(PostView post) => new(
        post.Id, post.WorkspaceId, post.CreatedByKeyId, Upper(post.Status), post.Caption, post.ScheduledFor, post.Timezone,
        CreatedViaApi: true, DeletedAt: null, post.CreatedAt, post.UpdatedAt,
        [.. post.Targets.Select(t => new PostbreezeTarget(
            t.Id, post.Id, t.SocialAccountId, t.Platform.ToUpperInvariant(), Upper(t.Status), t.CaptionOverride, t.FirstComment,
            [], post.ScheduledFor, t.PublishedAt, t.ExternalPostId, t.ExternalUrl, t.ErrorCode, t.ErrorMessage, t.AttemptCount, t.LastAttemptAt))],
        [.. post.Media.Select(m => new PostbreezeMedia(post.Id, m.MediaId, m.Order, m.AltText))]);

    /// <summary>
    /// Our statuses uppercase, in Postbreeze's American spelling of cancelled; Postbreeze has no declined post, and
    /// ours is what its DRAFT is: editable, off the schedule.
    /// </summary>
    public static string Upper(string status) => status switch
    {
        PostStatus.Cancelled => "CANCELED",
        PostStatus.Declined => "DRAFT",
        _ => status.ToUpperInvariant(),
    };
}

public sealed record PostbreezeTarget(
    string Id,
    string PostId,
    string SocialAccountId,
    string Platform,
    string Status,
    string? CaptionOverride,
    string? FirstComment,
    IReadOnlyList<string> MediaIds,
    DateTimeOffset? ScheduledFor,
    DateTimeOffset? PublishedAt,
    string? ExternalPostId,
    string? ExternalUrl,
    string? ErrorCode,
    string? ErrorMessage,
    int AttemptCount,
    DateTimeOffset? LastAttemptAt);

public sealed record PostbreezeMedia(string PostId, string MediaAssetId, int Order, string? AltText);
