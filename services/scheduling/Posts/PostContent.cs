using Npgsql;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.Scheduling.Accounts;

namespace ScheduledPosts.Scheduling.Posts;

/// <summary>
/// What a post carries — its targets and media — checked against the workspace's accounts and media and against each
/// target platform's rules, with a 422 on the offending field (docs/api.md#errors). Used on create and draft edits.
/// </summary>
public sealed class PostContent(PostStore store)
{
    public static List<CreateTargetRequest> ValidTargets(List<CreateTargetRequest?>? targets)
    {
        PostRules.ValidateTargetAccounts((targets ?? []).Select(t => t?.SocialAccountId).ToList());
        return targets!.Select(t => t!).ToList();
    }

    public static List<string> ValidMediaIds(List<string?>? mediaIds)
    {
        var ids = mediaIds ?? [];
        for (int i = 0; i < ids.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(ids[i]))
            {
                throw ApiException.Validation($"mediaIds[{i}]", "A media id is required.");
            }
        }

        if (ids.Count > PostRules.MaxMedia)
        {
            throw ApiException.Validation("mediaIds", $"A post has at most {PostRules.MaxMedia} media.");
        }

        if (ids.Distinct().Count() != ids.Count)
        {
            throw ApiException.Validation("mediaIds", "Each media id may appear once.");
        }

        return ids!;
    }

    /// <summary>The target rows of a new or edited draft: each account must be the workspace's, active, and take the caption.</summary>
    public async Task<List<PostStore.TargetRow>> TargetRowsAsync(
        NpgsqlTransaction tx, string workspaceId, string postId, List<CreateTargetRequest> targets, string caption)
    {
        var accounts = await store.AccountsAsync(tx, workspaceId, targets.Select(t => t.SocialAccountId!).ToArray());
        return targets.Select((t, i) =>
        {
            if (!accounts.TryGetValue(t.SocialAccountId!, out var account))
            {
                throw ApiException.Validation($"targets[{i}].socialAccountId", "No such social account in this workspace.");
            }

            if (account.Status != AccountStatuses.Active)
            {
                throw ApiException.Validation($"targets[{i}].socialAccountId", account.Status == AccountStatuses.ReauthRequired
                    ? "The social account must be connected again (POST /v1/social-accounts/connect): its platform no longer accepts its grant."
                    : "The social account is disconnected.");
            }

            PostRules.ValidateCaptionFor(account.Platform, t.CaptionOverride ?? caption,
                t.CaptionOverride is null ? "caption" : $"targets[{i}].captionOverride");
            PostRules.ValidateFirstCommentFor(account.Platform, t.FirstComment, $"targets[{i}].firstComment");
            return new PostStore.TargetRow(
                Ids.New("tgt"), postId, account.Id, account.Platform, i, TargetStatus.Draft, t.CaptionOverride, t.FirstComment,
                null, null, null, null, null, 0, null, null, null);
        }).ToList();
    }

    /// <summary>Links the media to the post in order; each must be the workspace's and not orphaned by a delete.</summary>
    public async Task AttachMediaAsync(NpgsqlTransaction tx, string workspaceId, string postId, List<string> mediaIds)
    {
        var usable = await store.UsableMediaAsync(tx, workspaceId, mediaIds.ToArray());
        int unknown = mediaIds.FindIndex(id => !usable.Contains(id));
        if (unknown >= 0)
        {
            throw ApiException.Validation($"mediaIds[{unknown}]", "No such media in this workspace.");
        }

        await store.ReplaceMediaAsync(tx, postId, mediaIds);
    }

    /// <summary>Every target's platform must take the post's media, kinds, count and sizes (422 on the first target that cannot).</summary>
    public async Task ValidateMediaForTargetsAsync(NpgsqlTransaction tx, string postId)
    {
        var media = await store.MediaTypesAndSizesAsync(tx, postId);
        if (media.Count == 0)
        {
            return;
        }

        var contentTypes = media.ConvertAll(m => m.ContentType);
        var sizes = media.ConvertAll(m => m.SizeBytes);

        foreach (var target in await store.TargetsAsync(tx.Connection!, postId, tx))
        {
            PostRules.ValidateMediaFor(target.Platform, contentTypes, $"targets[{target.Position}].socialAccountId", sizes);
        }
    }
}
