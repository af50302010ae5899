namespace ScheduledPosts.Contracts.Messages;

/// <summary>A target of a post is due for publishing. Stale when <see cref="ScheduleVersion"/> no longer matches the post.</summary>
public sealed record TargetDue(string PostId, string TargetId, long ScheduleVersion);
