namespace ScheduledPosts.Webhooks.Endpoints;

/// <summary>The event catalogue of docs/api.md#events.</summary>
public static class EventTypes
{
    public const string All = "*";

    /// <summary>Sent to one endpoint on request (<c>POST /v1/webhook-endpoints/{id}/test</c>), whatever it subscribes to.</summary>
    public const string Test = "webhook.test";

    public static readonly IReadOnlySet<string> Known = new HashSet<string>(StringComparer.Ordinal)
    {
        "post.scheduled", "post.rescheduled", "post.cancelled", "post.deleted",
        "post.publishing", "post.published", "post.partially_published", "post.failed",
        "target.published", "target.failed", Test,
    };
}
