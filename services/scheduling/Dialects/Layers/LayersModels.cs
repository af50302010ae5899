using System.Globalization;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Scheduling.Dialects.Layers;

public sealed record LayersCancelRequest(string? Reason = null);

public sealed record LayersRescheduleRequest(string? ScheduledFor);

public sealed record LayersCanceled(string Id, string Status, string CanceledAt);

public sealed record LayersRescheduled(string Id, string Status, string ScheduledFor, string UpdatedAt);

/// <summary>A post as Layers shows a scheduled post: its status in Layers' words, times in UTC with <c>Z</c>.</summary>
public sealed record LayersScheduledPost(
    string Id, string Status, string? ScheduledFor, string? PublishedAt, string? CanceledAt, string? CancelReason, string CreatedAt, string UpdatedAt)
{
    public static LayersScheduledPost From(PostView post) => new(
        post.Id, LayersStatus.Of(post.Status), LayersTime.Format(post.ScheduledFor), LayersTime.Format(post.PublishedAt),
        LayersTime.Format(post.CancelledAt), post.CancelReason, LayersTime.Format(post.CreatedAt), LayersTime.Format(post.UpdatedAt));
}

/// <summary>Our post statuses in Layers' vocabulary.</summary>
public static class LayersStatus
{
    public const string Queued = "queued";
    public const string Canceled = "canceled";

    /// <summary>
    /// A draft (or a post awaiting approval, or declined) is not on the schedule and cannot be cancelled, like Layers'
    /// <c>draft_in_inbox</c>; a partly published post cannot be pulled back, like a <c>published</c> one.
    /// </summary>
    public static string Of(string status) => status switch
    {
        PostStatus.Draft or PostStatus.NeedsApproval or PostStatus.Declined => "draft_in_inbox",
        PostStatus.Scheduled => Queued,
        PostStatus.Publishing => "publishing",
        PostStatus.Published or PostStatus.PartiallyPublished => "published",
        PostStatus.Failed => "failed",
        PostStatus.Cancelled => Canceled,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "Not a post status."),
    };
}

/// <summary>Layers writes instants in UTC with a <c>Z</c>, to the second (<c>2026-04-18T19:22:41Z</c>).</summary>
public static class LayersTime
{
    public static string Format(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static string? Format(DateTimeOffset? value) => value is { } v ? Format(v) : null;
}

/// <summary>
/// Layers' error codes are ours (<c>UNAUTHENTICATED</c>, <c>FORBIDDEN_SCOPE</c>, <c>NOT_FOUND</c>, <c>CONFLICT</c>,
/// <c>VALIDATION</c>) in the same envelope; only our finer 409s become its one <c>CONFLICT</c>.
/// </summary>
public static class LayersErrors
{
    public static ApiException Map(ApiException error) => error.Code switch
    {
        "CANCEL_WINDOW_CLOSED" or "PRECONDITION_FAILED" => ApiException.Conflict(error.Message),
        _ => error,
    };
}
