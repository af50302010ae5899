using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Posts;

/// <summary>The approval step (docs/api.md#approval): who may schedule without it, approve and decline.</summary>
public sealed partial class PostCommands
{
    /// <summary>
    /// needs_approval → scheduled at the time asked for, by an owner or admin (<see cref="ApproveScope"/>); 409
    /// <c>SCHEDULE_IN_PAST</c> once that time has passed (reschedule it or publish it now instead).
    /// </summary>
    public async Task<PostResult> ApproveAsync(InternalIdentity who, string postId, string? ifMatch)
    {
        EnsureApprover(who, "approve");
        return await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            if (post.Status != PostStatus.NeedsApproval)
            {
                throw ApiException.Conflict($"Only a post that needs approval can be approved; this post is {post.Status}.");
            }

            var due = PostStore.Utc(post.ScheduledFor!.Value);
            if (due < clock.GetUtcNow())
            {
                throw new ApiException(StatusCodes.Status409Conflict, "SCHEDULE_IN_PAST",
                    $"This post was to go out at {JsonDefaults.Format(due)}, which has passed: reschedule it or publish it now.");
            }

            if (await ScheduleTargetsAsync(tx, post, due, post.Status) == 0)
            {
                throw NoTargetMayRunAgain();
            }

            await store.AuditAsync(tx, post, "approved", who.KeyId, newTime: due);
            await events.EmitAsync<PostApproved>(tx, "post.approved", postId);
        });
    }

    /// <summary>needs_approval → declined, by an owner or admin, with the reason the author reads; the author may edit it and schedule it again.</summary>
    public async Task<PostResult> DeclineAsync(InternalIdentity who, string postId, string? reason, string? ifMatch)
    {
        EnsureApprover(who, "decline");
        PostRules.ValidateDeclineReason(reason);
        return await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            if (post.Status != PostStatus.NeedsApproval)
            {
                throw ApiException.Conflict($"Only a post that needs approval can be declined; this post is {post.Status}.");
            }

            await store.SetStatusAsync(tx, postId, PostStatus.Declined);
            await store.AuditAsync(tx, post, "declined", who.KeyId, reason);
            await events.EmitAsync<PostDeclined>(tx, "post.declined", postId, reason: reason);
        });
    }

    private static void EnsureApprover(InternalIdentity who, string verb)
    {
        if (!who.HasScope(ApproveScope))
        {
            throw ApiException.Forbidden($"Only owners and admins {verb} posts: this API key lacks the {ApproveScope} scope.");
        }
    }

    /// <summary>
    /// When the workspace requires approval and the caller lacks <see cref="ApproveScope"/>, puts the post in
    /// needs_approval at <paramref name="due"/> instead of on the schedule (its pending messages taken back, its
    /// targets drafts until approved), with its audit entry and <c>post.approval_requested</c>. Returns whether it did.
    /// </summary>
    private async Task<bool> RequestApprovalIfNeededAsync(NpgsqlTransaction tx, InternalIdentity who, PostStore.PostRow post, DateTimeOffset due)
    {
        if (who.HasScope(ApproveScope) || !(await settings.GetAsync(tx.Connection!, post.WorkspaceId, tx)).ApprovalRequired)
        {
            return false;
        }

        if (await ScheduleTargetsAsync(tx, post, due, post.Status, awaitingApproval: true) == 0)
        {
            throw NoTargetMayRunAgain();
        }

        await store.AuditAsync(tx, post, "approval_requested", who.KeyId, oldTime: PostStore.Utc(post.ScheduledFor), newTime: due);
        await events.EmitAsync<PostApprovalRequested>(tx, "post.approval_requested", post.Id);
        return true;
    }
}
