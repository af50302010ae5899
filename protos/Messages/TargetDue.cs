namespace ScheduledPosts.Contracts.Messages;

/// <summary>
/// A target of a post is due for publishing. Stale when <see cref="ScheduleVersion"/> no longer matches the post.
/// <see cref="WorkspaceId"/> (the post's) lets the publisher keep one workspace's claims from queueing behind
/// another's; a message without it (sent before it existed) shares one lane with the others without.
/// </summary>
public sealed record TargetDue(string PostId, string TargetId, long ScheduleVersion, string? WorkspaceId = null);

/// <summary>
/// A published target's copy is to be removed from its platform (unpublish). Delivered at least once; the removal is
/// claimed with a lease and idempotent, so a repeated or outdated message changes nothing.
/// </summary>
public sealed record TargetUnpublishDue(string PostId, string TargetId);
