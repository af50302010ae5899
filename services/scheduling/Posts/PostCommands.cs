using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Scheduling.Outbox;
using ScheduledPosts.Scheduling.Queues;
using ScheduledPosts.Scheduling.Retention;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Posts;

/// <summary>Settings of the user commands, from the <c>Publishing</c> section.</summary>
public sealed class PostOptions
{
    public const string Section = "Publishing";

    /// <summary>The default window to cancel a mistaken immediate publish (a workspace may set its own).</summary>
    public TimeSpan PublishLead { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// What users do to posts, over REST and gRPC alike (docs/api.md#lifecycle-rules): each command locks the post row,
/// applies its rule, and writes the post, its targets, its audit entry, its pending messages and its domain event in
/// one transaction. Approval (<c>PostCommands.Approval.cs</c>) and unpublish (<c>PostCommands.Unpublish.cs</c>) are
/// files of their own.
/// </summary>
public sealed partial class PostCommands(
    NpgsqlDataSource dataSource,
    PostStore store,
    PostContent content,
    PostEvents events,
    OutboxScheduler outbox,
    WorkspaceSettings settings,
    RetentionSweeper retention,
    PostingQueues queues,
    TimeProvider clock)
{
    /// <summary>The API key scope of owners and admins that schedules without approval, and approves or declines (docs/api.md#approval).</summary>
    public const string ApproveScope = "posts:approve";

    public async Task<PostResult> CreateAsync(InternalIdentity who, CreatePostRequest request)
    {
        var now = clock.GetUtcNow();
        PostRules.ValidateCaption(request.Caption);
        var targets = PostContent.ValidTargets(request.Targets);
        PostRules.ValidateTimezone(request.Timezone);
        PostRules.ValidateMetadata(request.Metadata);
        var mediaIds = PostContent.ValidMediaIds(request.MediaIds);
        bool queued = request.Queue ?? false;
        if (queued && request.ScheduledFor is not null)
        {
            throw ApiException.Validation("queue", "Give either scheduledFor or queue: true, not both.");
        }

        DateTimeOffset? scheduledFor = request.ScheduledFor is null ? null : PostRules.ParseScheduledFor(request.ScheduledFor, now);

        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var post = new PostStore.PostRow(
            Ids.New("post"), who.WorkspaceId, PostStatus.Draft, request.Caption!, request.Timezone, null,
            null, null, null, 0, JsonSerializer.Serialize(request.Metadata ?? []), now.UtcDateTime, now.UtcDateTime, who.KeyId, 1);
        var targetRows = await content.TargetRowsAsync(tx, who.WorkspaceId, post.Id, targets, request.Caption!);
        if (queued)
        {
            // Holds the accounts' queue locks until the commit: the slot stays ours until the post is on the schedule.
            scheduledFor = await queues.TakeSlotAsync(tx, targetRows.Select(t => t.SocialAccountId).ToList());
        }

        await store.InsertAsync(tx, post, targetRows);
        await content.AttachMediaAsync(tx, who.WorkspaceId, post.Id, mediaIds);
        if (mediaIds.Count > 0)
        {
            await content.ValidateMediaForTargetsAsync(tx, post.Id);
        }
        await store.AuditAsync(tx, post, "created", who.KeyId);
        if (scheduledFor is { } due && !await RequestApprovalIfNeededAsync(tx, who, post, due))
        {
            await ScheduleTargetsAsync(tx, post, due, PostStatus.Draft);
            await store.AuditAsync(tx, post, "scheduled", who.KeyId, queued ? "queue" : null, newTime: due);
            await events.EmitAsync<PostScheduled>(tx, "post.scheduled", post.Id);
        }

        var result = await ResultAsync(tx, post.Id);
        await tx.CommitAsync();
        return result;
    }

    /// <summary>PATCH: only a draft (or a declined post) can be edited; captions and targets are immutable once scheduled.</summary>
    public async Task<PostResult> UpdateDraftAsync(InternalIdentity who, string postId, UpdatePostRequest request, string? ifMatch)
    {
        if (request.Caption is not null)
        {
            PostRules.ValidateCaption(request.Caption);
        }

        var targets = request.Targets is null ? null : PostContent.ValidTargets(request.Targets);
        PostRules.ValidateTimezone(request.Timezone);
        PostRules.ValidateMetadata(request.Metadata);
        var mediaIds = request.MediaIds is null ? null : PostContent.ValidMediaIds(request.MediaIds);

        return await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            if (post.Status is not (PostStatus.Draft or PostStatus.Declined))
            {
                throw ApiException.Conflict($"Only a draft or a declined post can be edited; this post is {post.Status}.");
            }

            string caption = request.Caption ?? post.Caption;
            await store.UpdateDraftAsync(tx, postId, caption, request.Timezone,
                request.Metadata is null ? null : JsonSerializer.Serialize(request.Metadata));
            if (targets is not null)
            {
                await store.ReplaceTargetsAsync(tx, postId, await content.TargetRowsAsync(tx, post.WorkspaceId, postId, targets, caption));
            }

            if (mediaIds is not null)
            {
                await content.AttachMediaAsync(tx, post.WorkspaceId, postId, mediaIds);
            }

            if (targets is not null || mediaIds is not null)
            {
                await content.ValidateMediaForTargetsAsync(tx, postId);
            }

            await store.AuditAsync(tx, post, "updated", who.KeyId);
        });
    }

    /// <summary>draft (or declined) → scheduled at <c>scheduledFor</c>, or needs_approval when the caller's scheduling needs it.</summary>
    public async Task<PostResult> ScheduleAsync(InternalIdentity who, string postId, string? scheduledFor, string? ifMatch)
    {
        var due = PostRules.ParseScheduledFor(scheduledFor, clock.GetUtcNow());
        return await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            if (post.Status is not (PostStatus.Draft or PostStatus.Declined))
            {
                throw ApiException.Conflict($"Only a draft or a declined post can be scheduled; this post is {post.Status}. Use reschedule to move a scheduled post.");
            }

            if (await RequestApprovalIfNeededAsync(tx, who, post, due))
            {
                return;
            }

            await ScheduleTargetsAsync(tx, post, due, post.Status);
            await store.AuditAsync(tx, post, "scheduled", who.KeyId, newTime: due);
            await events.EmitAsync<PostScheduled>(tx, "post.scheduled", post.Id);
        });
    }

    /// <summary>
    /// draft, declined, needs_approval or scheduled → scheduled at now + the publish lead: the window to cancel a mistaken
    /// publish (or needs_approval, when the caller's scheduling needs it).
    /// </summary>
    public async Task<PostResult> PublishNowAsync(InternalIdentity who, string postId, string? ifMatch)
        => await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            if (post.Status is not (PostStatus.Draft or PostStatus.Declined or PostStatus.NeedsApproval or PostStatus.Scheduled))
            {
                throw ApiException.Conflict($"A {post.Status} post cannot be published now.");
            }

            var lead = TimeSpan.FromSeconds((await settings.GetAsync(tx.Connection!, post.WorkspaceId, tx)).PublishLeadSeconds);
            var due = clock.GetUtcNow() + lead;
            if (await RequestApprovalIfNeededAsync(tx, who, post, due))
            {
                return;
            }

            var old = PostStore.Utc(post.ScheduledFor);
            await ScheduleTargetsAsync(tx, post, due, post.Status);
            await store.AuditAsync(tx, post, "published_now", who.KeyId, oldTime: old, newTime: due);
            await EmitScheduledOrRescheduledAsync(tx, post, old);
        });

    /// <summary>
    /// Moves a scheduled or needs_approval post (or revives a cancelled one of which nothing was published) to a new
    /// time: the pending messages move in the same transaction, and the old ones become stale by version. When the
    /// caller's scheduling needs approval, the post waits for it again (needs_approval, off the schedule).
    /// </summary>
    public async Task<PostResult> RescheduleAsync(InternalIdentity who, string postId, string? scheduledFor, string? ifMatch)
    {
        var due = PostRules.ParseScheduledFor(scheduledFor, clock.GetUtcNow());
        return await MoveAsync(who, postId, _ => due, ifMatch);
    }

    /// <summary>Reschedule by <paramref name="shift"/> from the post's own time (bulk reschedule's <c>shiftSeconds</c>), by the same rules.</summary>
    public Task<PostResult> RescheduleByAsync(InternalIdentity who, string postId, TimeSpan shift, string? ifMatch)
        => MoveAsync(who, postId, post => PostRules.ValidateScheduledFor(
            PostStore.Utc(post.ScheduledFor ?? throw ApiException.Conflict("This post has no time to shift.")) + shift, clock.GetUtcNow(), "shiftSeconds"), ifMatch);

    private async Task<PostResult> MoveAsync(InternalIdentity who, string postId, Func<PostStore.PostRow, DateTimeOffset> newTime, string? ifMatch)
        => await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            bool revivable = post.Status == PostStatus.Cancelled && !await store.AnyTargetPublishedOrPublishingAsync(tx, postId);
            if (post.Status is not (PostStatus.Scheduled or PostStatus.NeedsApproval) && !revivable)
            {
                throw ApiException.Conflict(post.Status == PostStatus.Cancelled
                    ? "A cancelled post of which a target was published cannot be rescheduled."
                    : $"A {post.Status} post cannot be rescheduled.");
            }

            var due = newTime(post);
            if (await RequestApprovalIfNeededAsync(tx, who, post, due))
            {
                return;
            }

            var old = PostStore.Utc(post.ScheduledFor);
            if (await ScheduleTargetsAsync(tx, post, due, post.Status) == 0)
            {
                throw NoTargetMayRunAgain();
            }

            await store.AuditAsync(tx, post, "rescheduled", who.KeyId, oldTime: old, newTime: due);
            await EmitScheduledOrRescheduledAsync(tx, post, old);
        });

    /// <summary>
    /// Cancel: from scheduled, everything; while publishing, the targets not yet claimed (409 if none);
    /// from any other state, 409. Inside the workspace's cutoff, 409 CANCEL_WINDOW_CLOSED.
    /// </summary>
    public async Task<PostResult> CancelAsync(InternalIdentity who, string postId, string? reason, string? ifMatch)
    {
        PostRules.ValidateCancelReason(reason);
        return await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            if (post.Status is not (PostStatus.Scheduled or PostStatus.Publishing))
            {
                throw ApiException.Conflict($"A {post.Status} post cannot be cancelled.");
            }

            await EnsureOutsideCutoffAsync(tx, post);
            if (await store.CancelWaitingTargetsAsync(tx, postId) == 0)
            {
                throw ApiException.Conflict("Every target's upload already went out; nothing left to cancel.");
            }

            await outbox.CancelScheduledAsync(tx, postId);
            await store.MarkCancelledAsync(tx, postId, reason);
            await events.SettleAsync(tx, postId, cancelled: true);
            await store.AuditAsync(tx, post, "cancelled", who.KeyId, reason);
            await events.EmitAsync<PostCancelled>(tx, "post.cancelled", postId);
        });
    }

    /// <summary>Cancels one target of a multi-account post, by the same rules; the post goes on for the others.</summary>
    public async Task<PostResult> CancelTargetAsync(InternalIdentity who, string postId, string targetId, string? reason, string? ifMatch)
    {
        PostRules.ValidateCancelReason(reason);
        return await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            var target = (await store.TargetsAsync(tx.Connection!, postId, tx)).SingleOrDefault(t => t.Id == targetId)
                ?? throw ApiException.NotFound("Target");
            if (post.Status is not (PostStatus.Scheduled or PostStatus.Publishing) || target.Status != TargetStatus.Scheduled)
            {
                throw ApiException.Conflict(target.Status == TargetStatus.Publishing
                    ? "This target's upload is already in flight."
                    : $"A {target.Status} target of a {post.Status} post cannot be cancelled.");
            }

            await EnsureOutsideCutoffAsync(tx, post);
            await store.CancelTargetAsync(tx, targetId);
            await outbox.CancelScheduledAsync(tx, postId, targetId);
            string? final = await events.SettleAsync(tx, postId, cancelled: post.CancelledAt is not null);
            await store.AuditAsync(tx, post, "target_cancelled", who.KeyId, reason is null ? targetId : $"{targetId}: {reason}");
            if (final == PostStatus.Cancelled)
            {
                await store.MarkCancelledAsync(tx, postId, reason);
                await events.EmitAsync<PostCancelled>(tx, "post.cancelled", postId);
            }
        });
    }

    /// <summary>Re-queues the post's failed targets (not those of unknown outcome, unless asked).</summary>
    public async Task<PostResult> RetryAsync(InternalIdentity who, string postId, bool includeUnknown, string? ifMatch)
        => await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            if (post.Status is not (PostStatus.Failed or PostStatus.PartiallyPublished))
            {
                throw ApiException.Conflict($"Only a failed or partially published post can be retried; this post is {post.Status}.");
            }

            var retried = await store.RequeueFailedTargetsAsync(tx, postId, includeUnknown);
            if (retried.Count == 0)
            {
                throw ApiException.Conflict(includeUnknown
                    ? "No failed targets to retry."
                    : "No failed targets to retry (targets that ended UNKNOWN_OUTCOME need {\"includeUnknown\": true}).");
            }

            await store.SetStatusAsync(tx, postId, await store.AnyTargetPublishedAsync(tx, postId) ? PostStatus.Publishing : PostStatus.Scheduled);
            await outbox.ScheduleTargetsAsync(tx, post.WorkspaceId, postId, retried, post.ScheduleVersion, dueAt: null);

            await store.AuditAsync(tx, post, "retried", who.KeyId, string.Join(",", retried));
        });

    /// <summary>
    /// Deletes the post group atomically (post, targets, media links, pending messages); media no other post
    /// uses is orphaned for the retention sweeper to remove from storage after the commit. The audit log keeps a tombstone.
    /// </summary>
    public async Task<DeletedPost> DeleteAsync(InternalIdentity who, string postId, string? ifMatch)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var post = await LockForChangeAsync(tx, who, postId, ifMatch);
        if (post.Status is PostStatus.Publishing or PostStatus.Published or PostStatus.PartiallyPublished)
        {
            throw ApiException.Conflict($"A {post.Status} post cannot be deleted here; delete it upstream on the platform instead.");
        }

        var targets = await store.TargetsAsync(connection, postId, tx);
        await events.EmitAsync<PostDeleted>(tx, "post.deleted", postId);
        await outbox.CancelScheduledAsync(tx, postId);
        await store.DeleteAsync(tx, postId);
        await store.AuditAsync(tx, post, "deleted", who.KeyId);
        await tx.CommitAsync();
        retention.RequestSweep();
        return new DeletedPost(postId, true, targets.Select(t => new DeletedTarget(t.Id, t.Platform, t.Status)).ToList());
    }

    /// <summary>Locks the post, checks tenancy and If-Match, runs <paramref name="change"/>, bumps the revision, commits.</summary>
    private async Task<PostResult> MutateAsync(InternalIdentity who, string postId, string? ifMatch, Func<NpgsqlTransaction, PostStore.PostRow, Task> change)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var post = await LockForChangeAsync(tx, who, postId, ifMatch);
        await store.TouchAsync(tx, postId);
        await change(tx, post);
        var result = await ResultAsync(tx, postId);
        await tx.CommitAsync();
        return result;
    }

    private async Task<PostStore.PostRow> LockForChangeAsync(NpgsqlTransaction tx, InternalIdentity who, string postId, string? ifMatch)
    {
        var post = await store.LockAsync(tx, postId, who.WorkspaceId) ?? throw ApiException.NotFound("Post");
        if (ifMatch is not null && ifMatch.Trim() != "*" && !ifMatch.Split(',').Select(t => t.Trim()).Contains(post.ETag))
        {
            throw new ApiException(StatusCodes.Status412PreconditionFailed, "PRECONDITION_FAILED",
                "The post changed since you read it (If-Match does not match its ETag); read it again.");
        }

        return post;
    }

    private async Task<PostResult> ResultAsync(NpgsqlTransaction tx, string postId)
    {
        var (view, etag) = (await store.GetAsync(tx.Connection!, postId, null, tx))!.Value;
        return new PostResult(view, etag);
    }

    private async Task EnsureOutsideCutoffAsync(NpgsqlTransaction tx, PostStore.PostRow post)
    {
        int cutoff = (await settings.GetAsync(tx.Connection!, post.WorkspaceId, tx)).CancelCutoffSeconds;
        if (cutoff > 0 && post.ScheduledFor is { } due && PostStore.Utc(due) - clock.GetUtcNow() < TimeSpan.FromSeconds(cutoff))
        {
            throw new ApiException(StatusCodes.Status409Conflict, "CANCEL_WINDOW_CLOSED",
                $"This workspace allows cancelling only until {cutoff} s before the scheduled time.");
        }
    }

    // Only targets whose last attempt may have gone out: running them again could publish twice.
    private static ApiException NoTargetMayRunAgain()
        => ApiException.Conflict("No target of this post may run again: those left ended UNKNOWN_OUTCOME and may have reached the platform.");

    /// <summary>A post that was on the schedule moved (<c>post.rescheduled</c>); one that was not got on it (<c>post.scheduled</c>).</summary>
    private Task EmitScheduledOrRescheduledAsync(NpgsqlTransaction tx, PostStore.PostRow post, DateTimeOffset? old)
        => post.Status is PostStatus.Scheduled or PostStatus.Cancelled
            ? events.EmitAsync<PostRescheduled>(tx, "post.rescheduled", post.Id, old)
            : events.EmitAsync<PostScheduled>(tx, "post.scheduled", post.Id);

    /// <summary>
    /// Puts the post on the schedule at <paramref name="due"/> under a new schedule version: every target not
    /// published goes back to scheduled with its message (unless it may have gone out already: see
    /// <see cref="PostStore.ScheduleAsync"/>); messages of the previous version are taken back. Awaiting approval,
    /// the post is needs_approval and its targets drafts, with no message. Returns how many targets.
    /// </summary>
    private async Task<int> ScheduleTargetsAsync(NpgsqlTransaction tx, PostStore.PostRow post, DateTimeOffset due, string fromStatus, bool awaitingApproval = false)
    {
        await outbox.CancelScheduledAsync(tx, post.Id);
        // A draft's targets are drafts (so are those of a post awaiting approval or declined); a scheduled post keeps
        // the targets cancelled on their own; a revived cancelled post brings back every target (none was published,
        // or it could not be revived).
        string[] revive = fromStatus switch
        {
            PostStatus.Draft or PostStatus.NeedsApproval or PostStatus.Declined => [TargetStatus.Draft],
            PostStatus.Scheduled => [TargetStatus.Scheduled],
            _ => [TargetStatus.Cancelled, TargetStatus.Failed, TargetStatus.Skipped],
        };
        var (version, targetIds) = await store.ScheduleAsync(tx, post.Id, due, revive, awaitingApproval);
        if (!awaitingApproval)
        {
            await outbox.ScheduleTargetsAsync(tx, post.WorkspaceId, post.Id, targetIds, version, due);
        }

        return targetIds.Count;
    }
}
