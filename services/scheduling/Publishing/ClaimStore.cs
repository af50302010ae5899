using Dapper;
using Npgsql;
using ScheduledPosts.Scheduling.Posts;

namespace ScheduledPosts.Scheduling.Publishing;

/// <summary>The SQL of the claim protocol, on the targets table; every statement runs in the caller's transaction.</summary>
public sealed class ClaimStore
{
    public sealed record ClaimRow(
        string TargetId, string PostId, string Handle, string? CaptionOverride, string? FirstComment, int AttemptCount, Guid LeaseToken,
        DateTime LeaseExpiresAt, string Platform, string AccountId, byte[]? Credentials, long ClaimEpoch, string AccountStatus, DateTime DueAt)
    {
        /// <summary>When the target was first claimed: an earlier attempt cannot have posted before.</summary>
        public DateTime FirstClaimedAt { get; init; }
    }

    /// <summary>What the reaper and a late report need to know of a target, read under its row lock.</summary>
    public sealed record ClaimState(string Status, Guid? LeaseToken, DateTime? LeaseExpiresAt);

    /// <summary>
    /// scheduled → publishing with a new lease and one more attempt, for each of <paramref name="targets"/> (distinct
    /// targets) that is waiting and due, in one statement; the others are left alone. Returns what the publisher needs
    /// of each claimed target and its account. The caller holds the targets' post rows locked.
    /// </summary>
    public async Task<List<ClaimRow>> ClaimManyAsync(NpgsqlTransaction tx, IReadOnlyList<(string PostId, string TargetId)> targets, TimeSpan lease)
    {
        string[] postIds = [.. targets.Select(t => t.PostId)], targetIds = [.. targets.Select(t => t.TargetId)];
        var claimed = (await tx.Connection!.QueryAsync<ClaimRow>($"""
            UPDATE targets t
            SET status = '{TargetStatus.Publishing}', lease_token = gen_random_uuid(), lease_expires_at = clock_timestamp() + @lease,
                attempt_count = t.attempt_count + 1, last_attempt_at = clock_timestamp(), claim_epoch = t.claim_epoch + 1
            FROM social_accounts a, unnest(@targetIds::text[], @postIds::text[]) AS r(target_id, post_id)
            WHERE t.id = r.target_id AND t.post_id = r.post_id AND a.id = t.social_account_id
              AND t.status = '{TargetStatus.Scheduled}' AND t.next_attempt_at <= clock_timestamp()
            RETURNING t.id AS target_id, t.post_id, a.handle, t.caption_override, t.first_comment, t.attempt_count, t.lease_token,
                t.lease_expires_at, t.platform, a.id AS account_id, a.credentials, t.claim_epoch, a.status AS account_status,
                t.next_attempt_at AS due_at
            """, new { targetIds, postIds, lease }, tx)).AsList();
        if (claimed.Count == 0)
        {
            return claimed;
        }

        var first = (await tx.Connection!.QueryAsync<(string TargetId, DateTime FirstClaimedAt)>("""
            INSERT INTO target_claims (lease_token, target_id, epoch)
            SELECT * FROM unnest(@leaseTokens::uuid[], @claimedIds::text[], @epochs::bigint[]);
            SELECT target_id, min(claimed_at) FROM target_claims WHERE target_id = ANY(@claimedIds) GROUP BY target_id;
            """, new
        {
            leaseTokens = claimed.Select(c => c.LeaseToken).ToArray(),
            claimedIds = claimed.Select(c => c.TargetId).ToArray(),
            epochs = claimed.Select(c => c.ClaimEpoch).ToArray(),
        }, tx)).ToDictionary(f => f.TargetId, f => f.FirstClaimedAt, StringComparer.Ordinal);
        return [.. claimed.Select(c => c with { FirstClaimedAt = first[c.TargetId] })];
    }

    /// <summary>
    /// Extends the lease of the live claim <paramref name="leaseToken"/> — an upload's, or a removal's (unpublish) — while
    /// it has not run out; null when the claim is no longer live. A removal's resend by the reaper (next_attempt_at) moves
    /// with its lease. Takes the target's row lock, so it never interleaves with the reaper's decision on the same lease.
    /// </summary>
    public Task<DateTime?> RenewAsync(string targetId, Guid leaseToken, TimeSpan lease, NpgsqlConnection connection)
        => connection.ExecuteScalarAsync<DateTime?>($"""
            UPDATE targets SET lease_expires_at = clock_timestamp() + @lease,
                next_attempt_at = CASE WHEN status = '{TargetStatus.Published}' THEN clock_timestamp() + @lease ELSE next_attempt_at END
            WHERE id = @targetId AND lease_token = @leaseToken
              AND (status = '{TargetStatus.Publishing}' OR (status = '{TargetStatus.Published}' AND unpublish_requested_at IS NOT NULL))
              AND lease_expires_at > clock_timestamp()
            RETURNING lease_expires_at
            """, new { targetId, leaseToken, lease });

    /// <summary>
    /// The social account of the target's claim <paramref name="leaseToken"/> — an upload's, or a removal's — while it is
    /// the live one; else null.
    /// </summary>
    public Task<string?> AccountOfLiveClaimAsync(NpgsqlConnection connection, string targetId, Guid leaseToken)
        => connection.ExecuteScalarAsync<string?>($"""
            SELECT social_account_id FROM targets
            WHERE id = @targetId AND lease_token = @leaseToken
              AND (status = '{TargetStatus.Publishing}' OR (status = '{TargetStatus.Published}' AND unpublish_requested_at IS NOT NULL))
              AND lease_expires_at > clock_timestamp()
            """, new { targetId, leaseToken });

    /// <summary>The target's claim state, with its row locked until the transaction ends.</summary>
    public Task<ClaimState> LockAsync(NpgsqlTransaction tx, string targetId)
        => tx.Connection!.QuerySingleAsync<ClaimState>(
            "SELECT status, lease_token, lease_expires_at FROM targets WHERE id = @targetId FOR UPDATE", new { targetId }, tx);

    /// <summary>Whether <paramref name="leaseToken"/> was ever a claim of this target (the live one or an older one).</summary>
    public Task<bool> WasClaimOfAsync(NpgsqlTransaction tx, string targetId, Guid leaseToken)
        => tx.Connection!.ExecuteScalarAsync<bool>(
            "SELECT EXISTS (SELECT 1 FROM target_claims WHERE lease_token = @leaseToken AND target_id = @targetId)",
            new { leaseToken, targetId }, tx);

    /// <summary>The post of a target (a target never moves to another post).</summary>
    public Task<string?> PostOfTargetAsync(NpgsqlConnection connection, string targetId)
        => connection.ExecuteScalarAsync<string?>("SELECT post_id FROM targets WHERE id = @targetId", new { targetId });

    /// <summary>The post of each of <paramref name="targetIds"/> that exists.</summary>
    public async Task<Dictionary<string, string>> PostsOfTargetsAsync(NpgsqlTransaction tx, string[] targetIds)
        => (await tx.Connection!.QueryAsync<(string TargetId, string PostId)>(
            "SELECT id, post_id FROM targets WHERE id = ANY(@targetIds)", new { targetIds }, tx))
            .ToDictionary(t => t.TargetId, t => t.PostId, StringComparer.Ordinal);

    /// <summary>Up to <paramref name="batch"/> targets whose claim expired without a report, oldest first.</summary>
    public async Task<List<(string TargetId, string PostId)>> ExpiredAsync(NpgsqlConnection connection, int batch)
        => (await connection.QueryAsync<(string, string)>($"""
            SELECT id, post_id FROM targets
            WHERE status = '{TargetStatus.Publishing}' AND lease_expires_at < clock_timestamp()
            ORDER BY lease_expires_at LIMIT @batch
            """, new { batch })).AsList();

    /// <summary>
    /// Up to <paramref name="batch"/> targets still scheduled more than <paramref name="after"/> past their due time, with
    /// no message for them waiting to be sent nor sent within <paramref name="after"/>, with what a new message needs.
    /// </summary>
    public async Task<List<(string TargetId, string PostId, string WorkspaceId, long ScheduleVersion)>> UnclaimedAsync(
        NpgsqlConnection connection, TimeSpan after, int batch)
        => (await connection.QueryAsync<(string, string, string, long)>($"""
            SELECT t.id, t.post_id, p.workspace_id, p.schedule_version
            FROM targets t JOIN posts p ON p.id = t.post_id
            WHERE t.status = '{TargetStatus.Scheduled}' AND t.next_attempt_at < clock_timestamp() - @after
              AND NOT EXISTS (
                  SELECT 1 FROM outbox o
                  WHERE o.target_id = t.id AND (o.sent_at IS NULL OR o.sent_at > clock_timestamp() - @after))
            ORDER BY t.next_attempt_at LIMIT @batch
            """, new { after, batch })).AsList();

    /// <summary>Whether a message for the target waits to be sent, or was sent within <paramref name="within"/>.</summary>
    public Task<bool> HasMessageSinceAsync(NpgsqlTransaction tx, string targetId, TimeSpan within)
        => tx.Connection!.ExecuteScalarAsync<bool>("""
            SELECT EXISTS (SELECT 1 FROM outbox WHERE target_id = @targetId AND (sent_at IS NULL OR sent_at > clock_timestamp() - @within))
            """, new { targetId, within }, tx);

    public Task MarkPublishedAsync(NpgsqlTransaction tx, string targetId, DateTimeOffset at, string externalPostId, string? externalUrl)
        => tx.Connection!.ExecuteAsync($"""
            UPDATE targets SET status = '{TargetStatus.Published}', published_at = @at, external_post_id = @externalPostId,
                external_url = @externalUrl, error_code = NULL, error_message = NULL, lease_expires_at = NULL, next_attempt_at = NULL
            WHERE id = @targetId
            """, new { at, externalPostId, externalUrl, targetId }, tx);

    /// <summary>
    /// Back to scheduled for another attempt at <paramref name="retryAt"/>, keeping the error that caused it. Unless
    /// <paramref name="countsAsAttempt"/>, the claim's attempt is given back (nothing was sent).
    /// </summary>
    public Task ScheduleRetryAsync(NpgsqlTransaction tx, string targetId, DateTimeOffset retryAt, string errorCode, string errorMessage,
        bool countsAsAttempt = true)
        => tx.Connection!.ExecuteAsync($"""
            UPDATE targets SET status = '{TargetStatus.Scheduled}', next_attempt_at = @retryAt, error_code = @errorCode,
                error_message = @errorMessage, lease_expires_at = NULL,
                attempt_count = CASE WHEN @countsAsAttempt THEN attempt_count ELSE attempt_count - 1 END
            WHERE id = @targetId
            """, new { retryAt, errorCode, errorMessage, targetId, countsAsAttempt }, tx);

    public Task MarkFailedAsync(NpgsqlTransaction tx, string targetId, string errorCode, string errorMessage)
        => tx.Connection!.ExecuteAsync($"""
            UPDATE targets SET status = '{TargetStatus.Failed}', error_code = @errorCode, error_message = @errorMessage, lease_expires_at = NULL
            WHERE id = @targetId
            """, new { errorCode, errorMessage, targetId }, tx);
}
