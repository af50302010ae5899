using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Scheduling.Accounts;
using ScheduledPosts.Scheduling.Outbox;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Scheduling.Publishing;

/// <summary>
/// The publisher's side of unpublish (docs/api.md#unpublish), run like a publish: a removal asked for by
/// <see cref="PostCommands.UnpublishAsync"/> is claimed with a lease, the publisher deletes the copy, and reports.
/// Deleting is idempotent (a copy already gone counts as removed), so a removal whose outcome is unknown is simply
/// tried again, with the publishing backoff and attempts; one that ends failed leaves the target published, with the error.
/// </summary>
public sealed class TargetRemovals(
    NpgsqlDataSource dataSource,
    PostStore posts,
    PostEvents events,
    OutboxScheduler outbox,
    SocialAccounts accounts,
    TimeProvider clock,
    IOptions<PublishingOptions> options)
{
    private readonly PublishingOptions _options = options.Value;

    public sealed record Claim(
        string PostId, string TargetId, string Platform, string AccountId, string AccountHandle, string CredentialsJson,
        string ExternalPostId, Guid LeaseToken, DateTimeOffset LeaseExpiresAt, int Attempt);

    private sealed record ClaimRow(string Platform, string AccountId, string Handle, byte[]? Credentials, string? ExternalPostId, DateTime LeaseExpiresAt, int UnpublishAttempts);

    private sealed record TargetState(string PostId, string Status, bool Pending, Guid? LeaseToken, int UnpublishAttempts);

    /// <summary>Takes a pending removal with a lease; null (with the reason) when there is none to take, or a live lease holds it.</summary>
    public async Task<(Claim? Claim, string Reason)> ClaimAsync(string postId, string targetId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var token = Guid.NewGuid();
        // The lease also postpones the reaper's resend (next_attempt_at) until it has run out.
        var row = await connection.QuerySingleOrDefaultAsync<ClaimRow>($"""
            UPDATE targets t SET lease_token = @token, lease_expires_at = clock_timestamp() + @lease,
                next_attempt_at = clock_timestamp() + @lease, unpublish_attempts = t.unpublish_attempts + 1
            FROM social_accounts a
            WHERE t.id = @targetId AND t.post_id = @postId AND a.id = t.social_account_id
              AND t.status = '{TargetStatus.Published}' AND t.unpublish_requested_at IS NOT NULL
              AND (t.lease_token IS NULL OR t.lease_expires_at <= clock_timestamp())
            RETURNING t.platform, a.id AS account_id, a.handle, a.credentials, t.external_post_id, t.lease_expires_at, t.unpublish_attempts
            """, new { token, lease = _options.Lease, targetId, postId });
        if (row is null)
        {
            var state = await StateAsync(connection, null, targetId);
            return (null, state is null || state.PostId != postId ? "not_found" : !state.Pending ? "not_requested" : "leased");
        }

        return (new Claim(postId, targetId, row.Platform, row.AccountId, row.Handle, accounts.CredentialsJson(row.AccountId, row.Credentials),
            row.ExternalPostId ?? "", token, PostStore.Utc(row.LeaseExpiresAt), row.UnpublishAttempts), "claimed");
    }

    /// <summary>
    /// The publisher's report. Removed (from whichever claim: the copy is gone either way): the target is
    /// <c>unpublished</c> and <c>target.unpublished</c> emitted. Failed, from the live claim: tried again later while
    /// retryable with attempts left, else the removal ends and the target stays published with the error. Returns the
    /// target's status; a repeated report changes nothing.
    /// </summary>
    public async Task<string> CompleteAsync(string targetId, Guid leaseToken, TargetClaims.Failed? failed, TimeSpan? retryAfter)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        string postId = (await StateAsync(connection, tx, targetId))?.PostId ?? throw ApiException.NotFound("Target");
        var post = await posts.LockAsync(tx, postId) ?? throw ApiException.NotFound("Post");
        var target = (await StateAsync(connection, tx, targetId))!;
        if (!target.Pending || (failed is not null && target.LeaseToken != leaseToken))
        {
            return target.Status;
        }

        if (failed is null)
        {
            await connection.ExecuteAsync($"""
                UPDATE targets SET status = '{TargetStatus.Unpublished}', unpublished_at = clock_timestamp(), unpublish_requested_at = NULL,
                    lease_token = NULL, lease_expires_at = NULL, next_attempt_at = NULL, error_code = NULL, error_message = NULL
                WHERE id = @targetId
                """, new { targetId }, tx);
            await posts.TouchAsync(tx, postId);
            await posts.AuditAsync(tx, post, "unpublished", actorKeyId: null, targetId);
            await events.EmitAsync<PostTargetUnpublished>(tx, "target.unpublished", postId, targetId: targetId);
            await tx.CommitAsync();
            return TargetStatus.Unpublished;
        }

        if (failed.Retryable
            && PostRules.RetryDelay(target.UnpublishAttempts, _options.MaxAttempts, _options.RetryBase, _options.RetryCap, Random.Shared.NextDouble()) is { } backoff)
        {
            var delay = retryAfter is { } after && after > backoff ? after : backoff;
            var due = clock.GetUtcNow() + delay;
            // The last failure shows on the target while the removal waits for its next attempt.
            await connection.ExecuteAsync("""
                UPDATE targets SET lease_token = NULL, lease_expires_at = NULL, next_attempt_at = @due, error_code = @code, error_message = @message
                WHERE id = @targetId
                """, new { due, code = failed.ErrorCode, message = $"Removing the copy: {failed.ErrorMessage}", targetId }, tx);
            await outbox.ScheduleUnpublishAsync(tx, new TargetUnpublishDue(postId, targetId), due);
        }
        else
        {
            await connection.ExecuteAsync("""
                UPDATE targets SET unpublish_requested_at = NULL, lease_token = NULL, lease_expires_at = NULL, next_attempt_at = NULL,
                    error_code = @code, error_message = @message
                WHERE id = @targetId
                """, new { code = failed.ErrorCode, message = $"The copy could not be removed: {failed.ErrorMessage}", targetId }, tx);
            await posts.TouchAsync(tx, postId);
            await posts.AuditAsync(tx, post, "unpublish_failed", actorKeyId: null, $"{targetId}: {failed.ErrorCode}");
        }

        await tx.CommitAsync();
        return target.Status;
    }

    /// <summary>
    /// Sends again the removals still pending long after they were due with no live lease: their message was lost, or
    /// the publisher that claimed one stopped before it reported. Returns how many.
    /// </summary>
    public async Task<int> ResendStalledAsync(int batch)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var stalled = (await connection.QueryAsync<(string PostId, string Id)>("""
            UPDATE targets SET next_attempt_at = clock_timestamp()
            WHERE id IN (
                SELECT id FROM targets
                WHERE unpublish_requested_at IS NOT NULL AND next_attempt_at < clock_timestamp() - @after
                  AND (lease_token IS NULL OR lease_expires_at <= clock_timestamp())
                ORDER BY next_attempt_at LIMIT @batch FOR UPDATE SKIP LOCKED)
            RETURNING post_id, id
            """, new { after = _options.ResendUnclaimedAfter, batch }, tx)).AsList();
        foreach (var (postId, id) in stalled)
        {
            await outbox.ScheduleUnpublishAsync(tx, new TargetUnpublishDue(postId, id), dueAt: null);
        }

        await tx.CommitAsync();
        return stalled.Count;
    }

    private static Task<TargetState?> StateAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string targetId)
        => connection.QuerySingleOrDefaultAsync<TargetState>("""
            SELECT post_id, status, unpublish_requested_at IS NOT NULL AS pending, lease_token, unpublish_attempts
            FROM targets WHERE id = @targetId
            """, new { targetId }, tx);
}
