using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Posts;

public sealed partial class PostCommands
{
    /// <summary>
    /// Unpublish (docs/api.md#unpublish): asks the publisher to remove the published copy of one target, or of every
    /// published target of the post (<paramref name="targetId"/> null) whose platform allows deletion. The targets stay
    /// published until their platform confirms. 409 UNSUPPORTED_BY_PLATFORM when no platform concerned can delete.
    /// </summary>
    public async Task<PostResult> UnpublishAsync(InternalIdentity who, string postId, string? targetId, string? ifMatch)
        => await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            var targets = await store.TargetsAsync(tx.Connection!, postId, tx);
            var pending = await store.UnpublishPendingAsync(tx, postId);
            List<PostStore.TargetRow> candidates;
            if (targetId is not null)
            {
                var target = targets.SingleOrDefault(t => t.Id == targetId) ?? throw ApiException.NotFound("Target");
                if (target.Status != TargetStatus.Published || pending.Contains(target.Id))
                {
                    throw ApiException.Conflict(target.Status == TargetStatus.Unpublished ? "This target's copy was removed already."
                        : pending.Contains(target.Id) ? "This target's copy is being removed already."
                        : $"Only a published target can be unpublished; this one is {target.Status}.");
                }

                candidates = [target];
            }
            else
            {
                candidates = targets.Where(t => t.Status == TargetStatus.Published && !pending.Contains(t.Id)).ToList();
                if (candidates.Count == 0)
                {
                    throw ApiException.Conflict(pending.Count > 0
                        ? "Every published copy of this post is being removed already."
                        : $"Nothing of this {post.Status} post is published.");
                }
            }

            var removable = candidates.Where(t => PostRules.CanUnpublish(t.Platform)).ToList();
            if (removable.Count == 0)
            {
                throw new ApiException(StatusCodes.Status409Conflict, "UNSUPPORTED_BY_PLATFORM",
                    $"{string.Join(", ", candidates.Select(t => t.Platform).Distinct())} does not let us delete a published post; remove it on the platform itself.");
            }

            await store.RequestUnpublishAsync(tx, removable.Select(t => t.Id).ToArray());
            foreach (var target in removable)
            {
                await outbox.ScheduleUnpublishAsync(tx, new TargetUnpublishDue(postId, target.Id), dueAt: null);
            }

            await store.AuditAsync(tx, post, "unpublish_requested", who.KeyId, string.Join(",", removable.Select(t => t.Id)));
        });
}
