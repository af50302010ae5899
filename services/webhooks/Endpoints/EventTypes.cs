namespace ScheduledPosts.Webhooks.Endpoints;

/// <summary>The event catalogue of docs/api.md#events.</summary>
public static class EventTypes
{
    public const string All = "*";

    /// <summary>Sent to one endpoint on request (<c>POST /v1/webhook-endpoints/{id}/test</c>), whatever it subscribes to.</summary>
    public const string Test = "webhook.test";

    public const string AccountReauthRequired = "account.reauth_required";

    /// <summary>The types a <c>PostEvent</c> from the bus may carry.</summary>
    public static readonly IReadOnlySet<string> OfPosts = new HashSet<string>(StringComparer.Ordinal)
    {
        "post.scheduled", "post.rescheduled", "post.cancelled", "post.deleted",
        "post.publishing", "post.published", "post.partially_published", "post.failed",
        "target.published", "target.failed", "target.unpublished",
        "post.approval_requested", "post.approved", "post.declined",
    };

    /// <summary>The types an <c>AccountEvent</c> from the bus may carry.</summary>
    public static readonly IReadOnlySet<string> OfAccounts = new HashSet<string>(StringComparer.Ordinal) { AccountReauthRequired };

    /// <summary>What an endpoint may subscribe to.</summary>
    public static readonly IReadOnlySet<string> Known = new HashSet<string>([.. OfPosts, .. OfAccounts, Test], StringComparer.Ordinal);
}
