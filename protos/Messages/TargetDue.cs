namespace ScheduledPosts.Contracts.Messages;

/// <summary>A target of a post is due for publishing. Stale when <see cref="ScheduleVersion"/> no longer matches the post.</summary>
public sealed record TargetDue(string PostId, string TargetId, long ScheduleVersion);

/// <summary>
/// A published target's copy is to be removed from its platform (unpublish). Delivered at least once; the removal is
/// claimed with a lease and idempotent, so a repeated or outdated message changes nothing.
/// </summary>
public sealed record TargetUnpublishDue(string PostId, string TargetId);
