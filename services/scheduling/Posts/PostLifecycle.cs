using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Scheduling.Scheduling;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Posts;

public sealed record CreatePostRequest(
    string? Caption,
    List<CreateTargetRequest>? Targets,
    string? ScheduledFor,
    string? Timezone,
    Dictionary<string, string>? Metadata,
    List<string>? MediaIds);

public sealed record CreateTargetRequest(string? SocialAccountId, string? CaptionOverride, string? FirstComment);

public sealed class PublishingOptions
{
    public const string Section = "Publishing";

    /// <summary>How long a claimed target is the publisher's before the claim counts as lost.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(2);

    public int MaxAttempts { get; set; } = 5;
    public TimeSpan RetryBase { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan RetryCap { get; set; } = TimeSpan.FromMinutes(5);
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
    TimeProvider clock,
    IOptions<PublishingOptions> publishing)
{
    private readonly PublishingOptions _publishing = publishing.Value;

    public async Task<PostView> CreateAsync(InternalIdentity who, CreatePostRequest request)
    {
        var now = clock.GetUtcNow();
        PostRules.ValidateCaption(request.Caption);
        var targets = request.Targets ?? [];
        PostRules.ValidateTargetAccounts(targets.Select(t => t?.SocialAccountId).ToList());
        PostRules.ValidateTimezone(request.Timezone);
        PostRules.ValidateMetadata(request.Metadata);
        DateTimeOffset? scheduledFor = request.ScheduledFor is null ? null : PostRules.ParseScheduledFor(request.ScheduledFor, now);
        if (request.MediaIds is { Count: > 0 })
        {
            throw ApiException.Validation("mediaIds[0]", "Unknown media id.");
        }

        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var accounts = (await connection.QueryAsync<(string Id, string Platform, string Status)>(
            "SELECT id, platform, status FROM social_accounts WHERE workspace_id = @workspaceId AND id = ANY(@ids)",
            new { workspaceId = who.WorkspaceId, ids = targets.Select(t => t.SocialAccountId!).ToArray() }, tx))
            .ToDictionary(a => a.Id);

        string status = scheduledFor is null ? PostStatus.Draft : PostStatus.Scheduled;
        var post = new PostStore.PostRow(
            Ids.New("post"), who.WorkspaceId, status, request.Caption!, request.Timezone, scheduledFor?.UtcDateTime,
            null, null, null, scheduledFor is null ? 0 : 1, JsonSerializer.Serialize(request.Metadata ?? []),
            now.UtcDateTime, now.UtcDateTime, who.KeyId);
        var targetRows = targets.Select((t, i) =>
        {
            if (!accounts.TryGetValue(t.SocialAccountId!, out var account))
            {
                throw ApiException.Validation($"targets[{i}].socialAccountId", "No such social account in this workspace.");
            }

            if (account.Status != "active")
            {
                throw ApiException.Validation($"targets[{i}].socialAccountId", "The social account is disconnected.");
            }

            return new PostStore.TargetRow(
                Ids.New("tgt"), post.Id, account.Id, account.Platform, i, status, t.CaptionOverride, t.FirstComment,
                null, null, null, null, null, 0, null, null, null);
        }).ToList();

        await store.InsertAsync(tx, post, targetRows);
        await store.AuditAsync(tx, post, "created", who.KeyId);
        var view = PostStore.ToView(post, targetRows);
        if (scheduledFor is { } due)
        {
            await connection.ExecuteAsync("UPDATE targets SET next_attempt_at = @due WHERE post_id = @id", new { due, id = post.Id }, tx);
            foreach (var target in targetRows)
            {
                await outbox.ScheduleSendAsync(tx, new TargetDue(post.Id, target.Id, post.ScheduleVersion), due, post.Id);
            }

            await store.AuditAsync(tx, post, "scheduled", who.KeyId, newTime: due);
            await EmitAsync<PostScheduled>(tx, "post.scheduled", view);
        }

        await tx.CommitAsync();
        return view;
    }

    public async Task<PostView> GetAsync(string workspaceId, string postId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await store.GetAsync(connection, postId, workspaceId) ?? throw ApiException.NotFound("Post");
    }

    /// <summary>
    /// SPEC §4 cancel: from scheduled, everything; while publishing, the targets not yet claimed (409 if none);
    /// from any other state, 409. The pending messages go in the same transaction.
    /// </summary>
    public async Task<PostView> CancelAsync(InternalIdentity who, string postId, string? reason)
    {
        PostRules.ValidateCancelReason(reason);
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var post = await store.LockAsync(tx, postId, who.WorkspaceId) ?? throw ApiException.NotFound("Post");
        if (post.Status is not (PostStatus.Scheduled or PostStatus.Publishing))
        {
            throw ApiException.Conflict($"A {post.Status} post cannot be cancelled.");
        }

        int cancelled = await connection.ExecuteAsync(
            "UPDATE targets SET status = 'cancelled', next_attempt_at = NULL WHERE post_id = @postId AND status = 'scheduled'",
            new { postId }, tx);
        if (cancelled == 0)
        {
            throw ApiException.Conflict("Every target's upload already went out; nothing left to cancel.");
        }

        await outbox.CancelScheduledAsync(tx, postId);
        var now = clock.GetUtcNow();
        await connection.ExecuteAsync(
            "UPDATE posts SET cancelled_at = @now, cancel_reason = @reason, updated_at = @now WHERE id = @postId",
            new { now, reason, postId }, tx);
        await SettleAsync(tx, postId, cancelled: true);
        await store.AuditAsync(tx, post, "cancelled", who.KeyId, reason);
        var view = (await store.GetAsync(connection, postId, null, tx))!;
        await EmitAsync<PostCancelled>(tx, "post.cancelled", view);
        await tx.CommitAsync();
        return view;
    }

    public sealed record ClaimedTarget(
        string PostId, string TargetId, string WorkspaceId, string Platform, string AccountHandle, string Text,
        Guid LeaseToken, DateTimeOffset LeaseExpiresAt, int Attempt);

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

        var claimed = await connection.QuerySingleOrDefaultAsync<(string Handle, string? CaptionOverride, int AttemptCount, Guid LeaseToken, DateTime LeaseExpiresAt)>("""
            UPDATE targets t
            SET status = 'publishing', lease_token = gen_random_uuid(), lease_expires_at = clock_timestamp() + @lease,
                attempt_count = t.attempt_count + 1, last_attempt_at = clock_timestamp()
            FROM social_accounts a
            WHERE t.id = @targetId AND t.post_id = @postId AND a.id = t.social_account_id
              AND t.status = 'scheduled' AND t.next_attempt_at <= clock_timestamp()
            RETURNING a.handle, t.caption_override, t.attempt_count, t.lease_token, t.lease_expires_at
            """, new { targetId, postId, lease = _publishing.Lease }, tx);
        if (claimed.Handle is null)
        {
            return (null, "not_scheduled");
        }

        if (post.Status == PostStatus.Scheduled)
        {
            await connection.ExecuteAsync(
                "UPDATE posts SET status = 'publishing', updated_at = clock_timestamp() WHERE id = @postId", new { postId }, tx);
            await EmitAsync<PostPublishing>(tx, "post.publishing", (await store.GetAsync(connection, postId, null, tx))!);
        }

        var platform = await connection.ExecuteScalarAsync<string>("SELECT platform FROM targets WHERE id = @targetId", new { targetId }, tx);
        await tx.CommitAsync();
        return (new ClaimedTarget(postId, targetId, post.WorkspaceId, platform!, claimed.Handle, claimed.CaptionOverride ?? post.Caption,
            claimed.LeaseToken, new DateTimeOffset(DateTime.SpecifyKind(claimed.LeaseExpiresAt, DateTimeKind.Utc)), claimed.AttemptCount), "claimed");
    }

    public abstract record Outcome;

    public sealed record Published(string ExternalPostId, string? ExternalUrl) : Outcome;

    public sealed record Failed(string ErrorCode, string ErrorMessage, bool Retryable) : Outcome;

    /// <summary>
    /// The publisher reports how an upload ended. Only the holder of the current lease may complete, and a
    /// repeated report is answered without being applied twice; a retryable failure with attempts left goes
    /// back on the durable schedule with backoff.
    /// </summary>
    public async Task<(string TargetStatus, string PostStatus)> CompleteAsync(string targetId, Guid leaseToken, Outcome outcome)
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

        var now = clock.GetUtcNow();
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
                var retryAt = now + delay;
                await connection.ExecuteAsync("""
                    UPDATE targets SET status = 'scheduled', next_attempt_at = @retryAt, error_code = @ErrorCode,
                        error_message = @ErrorMessage, lease_expires_at = NULL
                    WHERE id = @targetId
                    """, new { retryAt, failed.ErrorCode, failed.ErrorMessage, targetId }, tx);
                await outbox.ScheduleSendAsync(tx, new TargetDue(postId, targetId, post.ScheduleVersion), retryAt, postId);
                break;
            case Failed failed:
                newStatus = TargetStatus.Failed;
                await connection.ExecuteAsync("""
                    UPDATE targets SET status = 'failed', error_code = @ErrorCode, error_message = @ErrorMessage,
                        lease_expires_at = NULL
                    WHERE id = @targetId
                    """, new { failed.ErrorCode, failed.ErrorMessage, targetId }, tx);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(outcome));
        }

        string postStatus = await SettleAsync(tx, postId, cancelled: post.CancelledAt is not null) ?? post.Status;
        await tx.CommitAsync();
        return (newStatus, postStatus);
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
            "UPDATE posts SET status = @final, published_at = @publishedAt, updated_at = clock_timestamp() WHERE id = @postId",
            new { final, publishedAt, postId }, tx);
        if (final == PostStatus.Cancelled)
        {
            return final; // the cancel itself emits post.cancelled
        }

        var view = (await store.GetAsync(connection, postId, null, tx))!;
        await (final switch
        {
            PostStatus.Published => EmitAsync<PostPublished>(tx, "post.published", view),
            PostStatus.PartiallyPublished => EmitAsync<PostPartiallyPublished>(tx, "post.partially_published", view),
            _ => EmitAsync<PostFailed>(tx, "post.failed", view),
        });
        return final;
    }

    private Task EmitAsync<T>(NpgsqlTransaction tx, string type, PostView view) where T : PostEvent, new()
        => outbox.PublishAsync(tx, new T
        {
            EventId = Ids.New("evt"),
            Type = type,
            WorkspaceId = view.WorkspaceId,
            PostId = view.Id,
            ScheduleVersion = view.ScheduleVersion,
            OccurredAt = clock.GetUtcNow(),
            Data = JsonSerializer.SerializeToElement(view, JsonDefaults.Options),
        });
}
