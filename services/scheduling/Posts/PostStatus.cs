namespace ScheduledPosts.Scheduling.Posts;

/// <summary>Post and target states of docs/api.md#resources, as stored (lowercase snake_case, like the wire).</summary>
public static class PostStatus
{
    public const string Draft = "draft";

    /// <summary>Scheduled by a key without <c>posts:approve</c> while the workspace requires approval: off the schedule until approved.</summary>
    public const string NeedsApproval = "needs_approval";

    /// <summary>An approver said no: editable like a draft, and scheduling it again asks for approval again.</summary>
    public const string Declined = "declined";

    public const string Scheduled = "scheduled";
    public const string Publishing = "publishing";
    public const string Published = "published";
    public const string PartiallyPublished = "partially_published";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
}

public static class TargetStatus
{
    public const string Draft = "draft";
    public const string Scheduled = "scheduled";
    public const string Publishing = "publishing";
    public const string Published = "published";
    public const string Failed = "failed";
    public const string Skipped = "skipped";
    public const string Cancelled = "cancelled";

    /// <summary>Published, then its copy removed from the platform (docs/api.md#unpublish).</summary>
    public const string Unpublished = "unpublished";

    public static bool IsTerminal(string status) => status is Published or Failed or Skipped or Cancelled or Unpublished;
}

/// <summary>Error codes the scheduling service itself gives a target.</summary>
public static class TargetErrors
{
    /// <summary>An attempt that may or may not have reached the platform; retried only when asked explicitly.</summary>
    public const string UnknownOutcome = "UNKNOWN_OUTCOME";

    /// <summary>The publisher's claim ran out before it reported; retried with the same idempotency key.</summary>
    public const string LeaseExpired = "LEASE_EXPIRED";

    /// <summary>
    /// The publisher's own limits (per account, per platform) stayed full and nothing was sent: the target waits its
    /// turn again without spending an attempt, so a backlog delays targets but never fails them.
    /// </summary>
    public const string PublisherBusy = "PUBLISHER_BUSY";

    /// <summary>
    /// The platform no longer honours the account's grant (revoked, or expired past refreshing), app password or token:
    /// not retried; the account is <c>reauth_required</c> until it is connected again.
    /// </summary>
    public const string AccountReauthRequired = "ACCOUNT_REAUTH_REQUIRED";
}
