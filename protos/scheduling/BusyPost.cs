namespace ScheduledPosts.Contracts.Scheduling.V1;

/// <summary>
/// What <c>ClaimTargets</c> and <c>CompleteTargets</c> answer for a member they left undone: its post's row was another
/// transaction's (a cancel, a reschedule, a report of another of its targets) when the batch locked its posts. A batch
/// takes only the posts it can have at once, so one busy post cannot hold up the others; nothing was done, and the
/// caller sends it again on its own (<c>ClaimTarget</c>, <c>CompleteTarget</c>), which waits for the post.
/// </summary>
public static class BusyPost
{
    /// <summary>A claim's <c>reason</c>.</summary>
    public const string ClaimReason = "post_busy";

    /// <summary>A report's <c>error_code</c>.</summary>
    public const string ReportErrorCode = "POST_BUSY";
}
