using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Scheduling.Outbox;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Posts;

public sealed class PublishingOptions
{
    public const string Section = "Publishing";

    /// <summary>How long a claimed target is the publisher's before the claim counts as lost.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(2);

    public int MaxAttempts { get; set; } = 5;
    public TimeSpan RetryBase { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan RetryCap { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often expired claims are looked for.</summary>
    public TimeSpan ReaperInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The default window to cancel a mistaken immediate publish (a workspace may set its own).</summary>
    public TimeSpan PublishLead { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Everything that changes a post, in one place: each operation locks the post row, applies the rules of
/// SPEC §4, and writes the post, its targets, its audit entry, its pending messages and its domain event
/// in one transaction. REST and gRPC both call this class.
/// </summary>
public sealed class PostLifecycle(
    NpgsqlDataSource dataSource,
    PostStore store,
    OutboxScheduler outbox,
    WorkspaceSettings settings,
    Retention.RetentionSweeper retention,
    Accounts.SocialAccounts accounts,
    TimeProvider clock,
    IOptions<PublishingOptions> publishing)
{
    /// <summary>The error code of an attempt that may or may not have reached the platform (SPEC §5).</summary>
    public const string UnknownOutcome = "UNKNOWN_OUTCOME";

    private readonly PublishingOptions _publishing = publishing.Value;

    public async Task<PostResult> CreateAsync(InternalIdentity who, CreatePostRequest request)
    {
        var now = clock.GetUtcNow();
        PostRules.ValidateCaption(request.Caption);
        var targets = ValidTargets(request.Targets);
        PostRules.ValidateTimezone(request.Timezone);
        PostRules.ValidateMetadata(request.Metadata);
        var mediaIds = ValidMediaIds(request.MediaIds);
        DateTimeOffset? scheduledFor = request.ScheduledFor is null ? null : PostRules.ParseScheduledFor(request.ScheduledFor, now);

        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var post = new PostStore.PostRow(
            Ids.New("post"), who.WorkspaceId, PostStatus.Draft, request.Caption!, request.Timezone, null,
            null, null, null, 0, JsonSerializer.Serialize(request.Metadata ?? []), now.UtcDateTime, now.UtcDateTime, who.KeyId, 1);
        await store.InsertAsync(tx, post, await TargetRowsAsync(tx, who.WorkspaceId, post.Id, targets, request.Caption!));
        await AttachMediaAsync(tx, who.WorkspaceId, post.Id, mediaIds);
        if (mediaIds.Count > 0)
        {
            await ValidateMediaForTargetsAsync(tx, post.Id);
        }
        await store.AuditAsync(tx, post, "created", who.KeyId);
        if (scheduledFor is { } due)
        {
            await ScheduleTargetsAsync(tx, post, due, PostStatus.Draft);
            await store.AuditAsync(tx, post, "scheduled", who.KeyId, newTime: due);
            await EmitAsync<PostScheduled>(tx, "post.scheduled", post.Id);
        }

        var result = await ResultAsync(tx, post.Id);
        await tx.CommitAsync();
        return result;
    }

    public async Task<PostResult> GetAsync(string workspaceId, string postId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var found = await store.GetAsync(connection, postId, workspaceId) ?? throw ApiException.NotFound("Post");
        return new PostResult(found.View, found.ETag);
    }

    public async Task<PostPage> ListAsync(string workspaceId, PostQuery query)
    {
        var filter = query.ToFilter(workspaceId);
        await using var connection = await dataSource.OpenConnectionAsync();
        var page = await store.ListAsync(connection, filter with { Limit = filter.Limit + 1 });
        bool hasMore = page.Count > filter.Limit;
        var data = hasMore ? page[..filter.Limit] : page;
        return new PostPage(data, hasMore ? PostQuery.CursorAfter(data[^1].Id) : null, hasMore);
    }

    public async Task<IReadOnlyList<AuditEntry>> AuditLogAsync(string workspaceId, string postId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var rows = await store.AuditLogAsync(connection, workspaceId, postId);
        if (rows.Count == 0)
        {
            throw ApiException.NotFound("Post");
        }

        return rows.Select(r => new AuditEntry(r.Action, r.ActorKeyId, r.Reason, PostStore.Utc(r.OldTime), PostStore.Utc(r.NewTime), PostStore.Utc(r.At))).ToList();
    }

    /// <summary>PATCH: only a draft can be edited; captions and targets are immutable once scheduled.</summary>
    public async Task<PostResult> UpdateDraftAsync(InternalIdentity who, string postId, UpdatePostRequest request, string? ifMatch)
    {
        if (request.Caption is not null)
        {
            PostRules.ValidateCaption(request.Caption);
        }

        var targets = request.Targets is null ? null : ValidTargets(request.Targets);
        PostRules.ValidateTimezone(request.Timezone);
        PostRules.ValidateMetadata(request.Metadata);
        var mediaIds = request.MediaIds is null ? null : ValidMediaIds(request.MediaIds);

        return await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            if (post.Status != PostStatus.Draft)
            {
                throw ApiException.Conflict($"Only a draft can be edited; this post is {post.Status}.");
            }

            var connection = tx.Connection!;
            string caption = request.Caption ?? post.Caption;
            await connection.ExecuteAsync("""
                UPDATE posts SET caption = @caption, timezone = COALESCE(@Timezone, timezone),
                    metadata = COALESCE(@metadata::jsonb, metadata)
                WHERE id = @postId
                """, new { caption, request.Timezone, metadata = request.Metadata is null ? null : JsonSerializer.Serialize(request.Metadata), postId }, tx);
            if (targets is not null)
            {
                await connection.ExecuteAsync("DELETE FROM targets WHERE post_id = @postId", new { postId }, tx);
                await store.InsertTargetsAsync(tx, await TargetRowsAsync(tx, post.WorkspaceId, postId, targets, caption));
            }

            if (mediaIds is not null)
            {
                await AttachMediaAsync(tx, post.WorkspaceId, postId, mediaIds);
            }

            if (targets is not null || mediaIds is not null)
            {
                await ValidateMediaForTargetsAsync(tx, postId);
            }

            await store.AuditAsync(tx, post, "updated", who.KeyId);
        });
    }

    /// <summary>draft → scheduled at <c>scheduledFor</c>.</summary>
    public async Task<PostResult> ScheduleAsync(InternalIdentity who, string postId, string? scheduledFor, string? ifMatch)
    {
        var due = PostRules.ParseScheduledFor(scheduledFor, clock.GetUtcNow());
        return await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            if (post.Status != PostStatus.Draft)
            {
                throw ApiException.Conflict($"Only a draft can be scheduled; this post is {post.Status}. Use reschedule to move a scheduled post.");
            }

            await ScheduleTargetsAsync(tx, post, due, PostStatus.Draft);
            await store.AuditAsync(tx, post, "scheduled", who.KeyId, newTime: due);
            await EmitAsync<PostScheduled>(tx, "post.scheduled", post.Id);
        });
    }

    /// <summary>draft or scheduled → scheduled at now + the publish lead: the window to cancel a mistaken publish.</summary>
    public async Task<PostResult> PublishNowAsync(InternalIdentity who, string postId, string? ifMatch)
        => await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            if (post.Status is not (PostStatus.Draft or PostStatus.Scheduled))
            {
                throw ApiException.Conflict($"A {post.Status} post cannot be published now.");
            }

            var lead = TimeSpan.FromSeconds((await settings.GetAsync(tx.Connection!, post.WorkspaceId, tx)).PublishLeadSeconds);
            var due = clock.GetUtcNow() + lead;
            var old = PostStore.Utc(post.ScheduledFor);
            await ScheduleTargetsAsync(tx, post, due, post.Status);
            await store.AuditAsync(tx, post, "published_now", who.KeyId, oldTime: old, newTime: due);
            if (post.Status == PostStatus.Draft)
            {
                await EmitAsync<PostScheduled>(tx, "post.scheduled", post.Id);
            }
            else
            {
                await EmitAsync<PostRescheduled>(tx, "post.rescheduled", post.Id, old);
            }
        });

    /// <summary>
    /// Moves a scheduled post (or revives a cancelled one of which nothing was published) to a new time:
    /// the pending messages move in the same transaction, and the old ones become stale by version.
    /// </summary>
    public async Task<PostResult> RescheduleAsync(InternalIdentity who, string postId, string? scheduledFor, string? ifMatch)
    {
        var due = PostRules.ParseScheduledFor(scheduledFor, clock.GetUtcNow());
        return await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            bool revivable = post.Status == PostStatus.Cancelled
                && await tx.Connection!.ExecuteScalarAsync<bool>(
                    "SELECT NOT EXISTS (SELECT 1 FROM targets WHERE post_id = @postId AND status IN ('published', 'publishing'))",
                    new { postId }, tx);
            if (post.Status != PostStatus.Scheduled && !revivable)
            {
                throw ApiException.Conflict(post.Status == PostStatus.Cancelled
                    ? "A cancelled post of which a target was published cannot be rescheduled."
                    : $"A {post.Status} post cannot be rescheduled.");
            }

            var old = PostStore.Utc(post.ScheduledFor);
            await ScheduleTargetsAsync(tx, post, due, post.Status);
            await store.AuditAsync(tx, post, "rescheduled", who.KeyId, oldTime: old, newTime: due);
            await EmitAsync<PostRescheduled>(tx, "post.rescheduled", post.Id, old);
        });
    }

    /// <summary>
    /// SPEC §4 cancel: from scheduled, everything; while publishing, the targets not yet claimed (409 if none);
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
            var connection = tx.Connection!;
            int cancelled = await connection.ExecuteAsync(
                "UPDATE targets SET status = 'cancelled', next_attempt_at = NULL WHERE post_id = @postId AND status = 'scheduled'",
                new { postId }, tx);
            if (cancelled == 0)
            {
                throw ApiException.Conflict("Every target's upload already went out; nothing left to cancel.");
            }

            await outbox.CancelScheduledAsync(tx, postId);
            await connection.ExecuteAsync(
                "UPDATE posts SET cancelled_at = clock_timestamp(), cancel_reason = @reason WHERE id = @postId",
                new { reason, postId }, tx);
            await SettleAsync(tx, postId, cancelled: true);
            await store.AuditAsync(tx, post, "cancelled", who.KeyId, reason);
            await EmitAsync<PostCancelled>(tx, "post.cancelled", postId);
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
            await tx.Connection!.ExecuteAsync(
                "UPDATE targets SET status = 'cancelled', next_attempt_at = NULL WHERE id = @targetId", new { targetId }, tx);
            await outbox.CancelScheduledAsync(tx, postId, targetId);
            string? final = await SettleAsync(tx, postId, cancelled: post.CancelledAt is not null);
            await store.AuditAsync(tx, post, "target_cancelled", who.KeyId, reason is null ? targetId : $"{targetId}: {reason}");
            if (final == PostStatus.Cancelled)
            {
                await tx.Connection!.ExecuteAsync(
                    "UPDATE posts SET cancelled_at = clock_timestamp(), cancel_reason = @reason WHERE id = @postId", new { reason, postId }, tx);
                await EmitAsync<PostCancelled>(tx, "post.cancelled", postId);
            }
        });
    }

    /// <summary>
    /// Deletes the post group atomically (post, targets, media links, pending messages); media no other post
    /// uses is orphaned for the janitor to remove from storage after the commit. The audit log keeps a tombstone.
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
        await EmitAsync<PostDeleted>(tx, "post.deleted", postId);
        await outbox.CancelScheduledAsync(tx, postId);
        await connection.ExecuteAsync("""
            UPDATE media SET orphaned_at = clock_timestamp()
            WHERE id IN (SELECT media_id FROM post_media WHERE post_id = @postId)
              AND NOT EXISTS (SELECT 1 FROM post_media pm WHERE pm.media_id = media.id AND pm.post_id <> @postId)
            """, new { postId }, tx);
        await connection.ExecuteAsync("DELETE FROM posts WHERE id = @postId", new { postId }, tx);
        await store.AuditAsync(tx, post, "deleted", who.KeyId);
        await tx.CommitAsync();
        retention.RequestSweep();
        return new DeletedPost(postId, true, targets.Select(t => new DeletedTarget(t.Id, t.Platform, t.Status)).ToList());
    }

    public sealed record ClaimedTarget(
        string PostId, string TargetId, string WorkspaceId, string Platform, string AccountHandle, string Text, string? FirstComment,
        Guid LeaseToken, DateTimeOffset LeaseExpiresAt, int Attempt, string CredentialsJson);

    private sealed record ClaimRow(
        string Handle, string? CaptionOverride, string? FirstComment, int AttemptCount, Guid LeaseToken, DateTime LeaseExpiresAt,
        string Platform, string AccountId, byte[]? Credentials);

    /// <summary>
    /// The publisher takes a due target: scheduled → publishing with a lease. Null (with the reason) when the
    /// post is gone, the message is stale, or the target is no longer waiting (cancelled, already claimed).
    /// </summary>
    public async Task<(ClaimedTarget? Target, string Reason)> ClaimAsync(string postId, string targetId, long scheduleVersion)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var post = await store.LockAsync(tx, postId);
        if (post is null)
        {
            return (null, "not_found");
        }

        if (post.ScheduleVersion != scheduleVersion)
        {
            return (null, "stale");
        }

        var claimed = await connection.QuerySingleOrDefaultAsync<ClaimRow>("""
            UPDATE targets t
            SET status = 'publishing', lease_token = gen_random_uuid(), lease_expires_at = clock_timestamp() + @lease,
                attempt_count = t.attempt_count + 1, last_attempt_at = clock_timestamp()
            FROM social_accounts a
            WHERE t.id = @targetId AND t.post_id = @postId AND a.id = t.social_account_id
              AND t.status = 'scheduled' AND t.next_attempt_at <= clock_timestamp()
            RETURNING a.handle, t.caption_override, t.first_comment, t.attempt_count, t.lease_token, t.lease_expires_at,
                t.platform, a.id AS account_id, a.credentials
            """, new { targetId, postId, lease = _publishing.Lease }, tx);
        if (claimed is null)
        {
            return (null, "not_scheduled");
        }

        await store.TouchAsync(tx, postId);
        if (post.Status == PostStatus.Scheduled)
        {
            await connection.ExecuteAsync("UPDATE posts SET status = 'publishing' WHERE id = @postId", new { postId }, tx);
            await EmitAsync<PostPublishing>(tx, "post.publishing", postId);
        }

        await tx.CommitAsync();
        return (new ClaimedTarget(postId, targetId, post.WorkspaceId, claimed.Platform, claimed.Handle, claimed.CaptionOverride ?? post.Caption,
            claimed.FirstComment, claimed.LeaseToken, PostStore.Utc(claimed.LeaseExpiresAt), claimed.AttemptCount,
            accounts.CredentialsJson(claimed.AccountId, claimed.Credentials)), "claimed");
    }

    public abstract record Outcome;

    public sealed record Published(string ExternalPostId, string? ExternalUrl) : Outcome;

    public sealed record Failed(string ErrorCode, string ErrorMessage, bool Retryable) : Outcome;

    /// <summary>
    /// The publisher reports how an upload ended. Only the holder of the current lease may complete, and a
    /// repeated report is answered without being applied twice; a retryable failure with attempts left goes
    /// back on the durable schedule with backoff.
    /// </summary>
    public async Task<(string TargetStatus, string PostStatus)> CompleteAsync(string targetId, Guid leaseToken, Outcome outcome, TimeSpan? retryAfter = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        string postId = await connection.ExecuteScalarAsync<string>("SELECT post_id FROM targets WHERE id = @targetId", new { targetId }, tx)
            ?? throw ApiException.NotFound("Target");
        var post = await store.LockAsync(tx, postId) ?? throw ApiException.NotFound("Post");
        var target = (await store.TargetsAsync(connection, postId, tx)).Single(t => t.Id == targetId);
        if (target.LeaseToken != leaseToken)
        {
            throw ApiException.Conflict("The claim on this target is no longer held.");
        }

        if (target.Status != TargetStatus.Publishing)
        {
            // The same report again (its first answer was lost): answer as before, change nothing.
            return (target.Status, post.Status);
        }

        var result = await ApplyOutcomeAsync(tx, post, target, outcome, retryAfter);
        await tx.CommitAsync();
        return result;
    }

    /// <summary>
    /// Handles targets whose claim expired without a report (the publisher died mid-upload), as an unknown
    /// outcome: retried with the same idempotency key where the platform honours one, else failed with
    /// <c>UNKNOWN_OUTCOME</c> rather than risk a duplicate. Returns how many it handled.
    /// </summary>
    public async Task<int> ExpireLeasesAsync(int batch)
    {
        List<(string TargetId, string PostId)> expired;
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            expired = (await connection.QueryAsync<(string, string)>("""
                SELECT id, post_id FROM targets
                WHERE status = 'publishing' AND lease_expires_at < clock_timestamp()
                ORDER BY lease_expires_at LIMIT @batch
                """, new { batch })).AsList();
        }

        int handled = 0;
        foreach (var (targetId, postId) in expired)
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await using var tx = await connection.BeginTransactionAsync();
            var post = await store.LockAsync(tx, postId);
            var target = post is null ? null : (await store.TargetsAsync(connection, postId, tx)).SingleOrDefault(t => t.Id == targetId);
            if (target is null || target.Status != TargetStatus.Publishing || PostStore.Utc(target.LeaseExpiresAt!.Value) > clock.GetUtcNow())
            {
                continue; // completed, or reaped by another replica, in the meantime
            }

            bool retrySafe = Platforms.Known.TryGetValue(target.Platform, out var platform) && platform.SupportsIdempotencyKey;
            Outcome outcome = retrySafe
                ? new Failed("LEASE_EXPIRED", "The publisher's claim expired before it reported; retrying with the same idempotency key.", Retryable: true)
                : new Failed(UnknownOutcome, "The publisher's claim expired before it reported; the upload may or may not have gone out.", Retryable: false);
            await ApplyOutcomeAsync(tx, post!, target, outcome, retryAfter: null);
            await tx.CommitAsync();
            handled++;
        }

        return handled;
    }

    /// <summary>Re-queues the post's failed targets (not those of unknown outcome, unless asked): SPEC §3 retry.</summary>
    public async Task<PostResult> RetryAsync(InternalIdentity who, string postId, bool includeUnknown, string? ifMatch)
        => await MutateAsync(who, postId, ifMatch, async (tx, post) =>
        {
            if (post.Status is not (PostStatus.Failed or PostStatus.PartiallyPublished))
            {
                throw ApiException.Conflict($"Only a failed or partially published post can be retried; this post is {post.Status}.");
            }

            var connection = tx.Connection!;
            var retried = (await connection.QueryAsync<string>("""
                UPDATE targets SET status = 'scheduled', attempt_count = 0, next_attempt_at = clock_timestamp(),
                    error_code = NULL, error_message = NULL, lease_token = NULL, lease_expires_at = NULL
                WHERE post_id = @postId AND status = 'failed' AND (@includeUnknown OR error_code IS DISTINCT FROM @unknown)
                RETURNING id
                """, new { postId, includeUnknown, unknown = UnknownOutcome }, tx)).ToList();
            if (retried.Count == 0)
            {
                throw ApiException.Conflict(includeUnknown
                    ? "No failed targets to retry."
                    : "No failed targets to retry (targets that ended UNKNOWN_OUTCOME need {\"includeUnknown\": true}).");
            }

            bool anyPublished = await connection.ExecuteScalarAsync<bool>(
                "SELECT EXISTS (SELECT 1 FROM targets WHERE post_id = @postId AND status = 'published')", new { postId }, tx);
            await connection.ExecuteAsync("UPDATE posts SET status = @status WHERE id = @postId",
                new { status = anyPublished ? PostStatus.Publishing : PostStatus.Scheduled, postId }, tx);
            foreach (string targetId in retried)
            {
                await outbox.ScheduleSendAsync(tx, new TargetDue(postId, targetId, post.ScheduleVersion), dueAt: null, postId);
            }

            await store.AuditAsync(tx, post, "retried", who.KeyId, string.Join(",", retried));
        });

    private async Task<(string TargetStatus, string PostStatus)> ApplyOutcomeAsync(
        NpgsqlTransaction tx, PostStore.PostRow post, PostStore.TargetRow target, Outcome outcome, TimeSpan? retryAfter)
    {
        var connection = tx.Connection!;
        var now = clock.GetUtcNow();
        string targetId = target.Id;
        string newStatus;
        switch (outcome)
        {
            case Published published:
                newStatus = TargetStatus.Published;
                await connection.ExecuteAsync("""
                    UPDATE targets SET status = 'published', published_at = @now, external_post_id = @ExternalPostId,
                        external_url = @ExternalUrl, error_code = NULL, error_message = NULL, lease_expires_at = NULL
                    WHERE id = @targetId
                    """, new { now, published.ExternalPostId, published.ExternalUrl, targetId }, tx);
                break;
            case Failed failed when failed.Retryable
                && PostRules.RetryDelay(target.AttemptCount, _publishing.MaxAttempts, _publishing.RetryBase, _publishing.RetryCap, Random.Shared.NextDouble()) is { } delay:
                newStatus = TargetStatus.Scheduled;
                // A platform's Retry-After (429) is a floor under the backoff.
                var retryAt = now + (retryAfter is { } floor && floor > delay ? floor : delay);
                await connection.ExecuteAsync("""
                    UPDATE targets SET status = 'scheduled', next_attempt_at = @retryAt, error_code = @ErrorCode,
                        error_message = @ErrorMessage, lease_expires_at = NULL
                    WHERE id = @targetId
                    """, new { retryAt, failed.ErrorCode, failed.ErrorMessage, targetId }, tx);
                await outbox.ScheduleSendAsync(tx, new TargetDue(post.Id, targetId, post.ScheduleVersion), retryAt, post.Id);
                break;
            case Failed failed:
                newStatus = TargetStatus.Failed;
                await connection.ExecuteAsync("""
                    UPDATE targets SET status = 'failed', error_code = @ErrorCode, error_message = @ErrorMessage, lease_expires_at = NULL
                    WHERE id = @targetId
                    """, new { failed.ErrorCode, failed.ErrorMessage, targetId }, tx);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(outcome));
        }

        await store.TouchAsync(tx, post.Id);
        if (newStatus == TargetStatus.Published)
        {
            await EmitAsync<PostTargetPublished>(tx, "target.published", post.Id, targetId: targetId);
        }
        else if (newStatus == TargetStatus.Failed)
        {
            await EmitAsync<PostTargetFailed>(tx, "target.failed", post.Id, targetId: targetId);
        }

        string postStatus = await SettleAsync(tx, post.Id, cancelled: post.CancelledAt is not null) ?? post.Status;
        return (newStatus, postStatus);
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

    /// <summary>
    /// Puts the post on the schedule at <paramref name="due"/> under a new schedule version: every target not
    /// published goes back to scheduled with its message; messages of the previous version are taken back.
    /// </summary>
    private async Task ScheduleTargetsAsync(NpgsqlTransaction tx, PostStore.PostRow post, DateTimeOffset due, string fromStatus)
    {
        var connection = tx.Connection!;
        await outbox.CancelScheduledAsync(tx, post.Id);
        long version = await connection.ExecuteScalarAsync<long>("""
            UPDATE posts SET status = 'scheduled', scheduled_for = @due, schedule_version = schedule_version + 1,
                cancelled_at = NULL, cancel_reason = NULL
            WHERE id = @Id
            RETURNING schedule_version
            """, new { due, post.Id }, tx);
        // A draft's targets are drafts; a scheduled post keeps the targets cancelled on their own; a revived
        // cancelled post brings back every target (none was published, or it could not be revived).
        string[] revive = fromStatus switch
        {
            PostStatus.Draft => [TargetStatus.Draft],
            PostStatus.Scheduled => [TargetStatus.Scheduled],
            _ => [TargetStatus.Cancelled, TargetStatus.Failed, TargetStatus.Skipped],
        };
        var targetIds = (await connection.QueryAsync<string>("""
            UPDATE targets SET status = 'scheduled', next_attempt_at = @due, error_code = NULL, error_message = NULL
            WHERE post_id = @Id AND status = ANY(@revive)
            RETURNING id
            """, new { due, post.Id, revive }, tx)).ToList();
        foreach (string targetId in targetIds)
        {
            await outbox.ScheduleSendAsync(tx, new TargetDue(post.Id, targetId, version), due, post.Id);
        }
    }

    /// <summary>When every target is terminal, gives the post its final status (SPEC §2) and emits its event.</summary>
    private async Task<string?> SettleAsync(NpgsqlTransaction tx, string postId, bool cancelled)
    {
        var connection = tx.Connection!;
        var targets = await store.TargetsAsync(connection, postId, tx);
        string? final = PostRules.AggregateStatus(targets.Select(t => t.Status).ToList(), cancelled);
        if (final is null)
        {
            return null;
        }

        DateTime? publishedAt = targets.Max(t => t.PublishedAt);
        await connection.ExecuteAsync(
            "UPDATE posts SET status = @final, published_at = @publishedAt WHERE id = @postId", new { final, publishedAt, postId }, tx);
        switch (final)
        {
            case PostStatus.Published:
                await EmitAsync<PostPublished>(tx, "post.published", postId);
                break;
            case PostStatus.PartiallyPublished:
                await EmitAsync<PostPartiallyPublished>(tx, "post.partially_published", postId);
                break;
            case PostStatus.Failed:
                await EmitAsync<PostFailed>(tx, "post.failed", postId);
                break;
        }

        return final; // a cancel emits its own post.cancelled
    }

    private static List<CreateTargetRequest> ValidTargets(List<CreateTargetRequest?>? targets)
    {
        PostRules.ValidateTargetAccounts((targets ?? []).Select(t => t?.SocialAccountId).ToList());
        return targets!.Select(t => t!).ToList();
    }

    private static List<string> ValidMediaIds(List<string?>? mediaIds)
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

    private static async Task<List<PostStore.TargetRow>> TargetRowsAsync(
        NpgsqlTransaction tx, string workspaceId, string postId, List<CreateTargetRequest> targets, string caption)
    {
        var accounts = (await tx.Connection!.QueryAsync<(string Id, string Platform, string Status)>(
            "SELECT id, platform, status FROM social_accounts WHERE workspace_id = @workspaceId AND id = ANY(@ids)",
            new { workspaceId, ids = targets.Select(t => t.SocialAccountId!).ToArray() }, tx))
            .ToDictionary(a => a.Id);
        return targets.Select((t, i) =>
        {
            if (!accounts.TryGetValue(t.SocialAccountId!, out var account))
            {
                throw ApiException.Validation($"targets[{i}].socialAccountId", "No such social account in this workspace.");
            }

            if (account.Status != "active")
            {
                throw ApiException.Validation($"targets[{i}].socialAccountId", "The social account is disconnected.");
            }

            PostRules.ValidateCaptionFor(account.Platform, t.CaptionOverride ?? caption,
                t.CaptionOverride is null ? "caption" : $"targets[{i}].captionOverride");
            PostRules.ValidateFirstCommentFor(account.Platform, t.FirstComment, $"targets[{i}].firstComment");
            return new PostStore.TargetRow(
                Ids.New("tgt"), postId, account.Id, account.Platform, i, TargetStatus.Draft, t.CaptionOverride, t.FirstComment,
                null, null, null, null, null, 0, null, null, null);
        }).ToList();
    }

    private async Task AttachMediaAsync(NpgsqlTransaction tx, string workspaceId, string postId, List<string> mediaIds)
    {
        var known = (await tx.Connection!.QueryAsync<string>(
            "SELECT id FROM media WHERE workspace_id = @workspaceId AND id = ANY(@mediaIds) AND orphaned_at IS NULL",
            new { workspaceId, mediaIds = mediaIds.ToArray() }, tx)).ToHashSet();
        int unknown = mediaIds.FindIndex(id => !known.Contains(id));
        if (unknown >= 0)
        {
            throw ApiException.Validation($"mediaIds[{unknown}]", "No such media in this workspace.");
        }

        await store.ReplaceMediaAsync(tx, postId, mediaIds);
    }

    /// <summary>Every target's platform must take the post's media (422 on the first target that cannot).</summary>
    private static async Task ValidateMediaForTargetsAsync(NpgsqlTransaction tx, string postId)
    {
        var connection = tx.Connection!;
        var contentTypes = (await connection.QueryAsync<string>("""
            SELECT m.content_type FROM post_media pm JOIN media m ON m.id = pm.media_id
            WHERE pm.post_id = @postId ORDER BY pm.position
            """, new { postId }, tx)).ToList();
        if (contentTypes.Count == 0)
        {
            return;
        }

        var targets = await connection.QueryAsync<(string Platform, int Position)>(
            "SELECT platform, position FROM targets WHERE post_id = @postId ORDER BY position", new { postId }, tx);
        foreach (var (platform, position) in targets)
        {
            PostRules.ValidateMediaFor(platform, contentTypes, $"targets[{position}].socialAccountId");
        }
    }

    /// <summary>
    /// Writes a domain event with the post as it now is; a reschedule adds <c>previousScheduledFor</c>, a target
    /// event the <c>targetId</c> it is about.
    /// </summary>
    private async Task EmitAsync<T>(NpgsqlTransaction tx, string type, string postId, DateTimeOffset? previousScheduledFor = null, string? targetId = null)
        where T : PostEvent, new()
    {
        var (view, _) = (await store.GetAsync(tx.Connection!, postId, null, tx))!.Value;
        var data = JsonSerializer.SerializeToNode(view, JsonDefaults.Options)!.AsObject();
        if (typeof(T) == typeof(PostRescheduled))
        {
            data["previousScheduledFor"] = previousScheduledFor is null ? null : JsonValue.Create(JsonDefaults.Format(previousScheduledFor.Value));
        }

        if (targetId is not null)
        {
            data["targetId"] = targetId;
        }

        await outbox.PublishAsync(tx, new T
        {
            EventId = Ids.New("evt"),
            Type = type,
            WorkspaceId = view.WorkspaceId,
            PostId = view.Id,
            ScheduleVersion = view.ScheduleVersion,
            OccurredAt = clock.GetUtcNow(),
            Data = JsonSerializer.SerializeToElement(data, JsonDefaults.Options),
        });
    }
}
