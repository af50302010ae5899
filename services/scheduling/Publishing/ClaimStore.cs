using Dapper;
using Npgsql;
using ScheduledPosts.Scheduling.Posts;

namespace ScheduledPosts.Scheduling.Publishing;

/// <summary>The SQL of the claim protocol, on the targets table; every statement runs in the caller's transaction.</summary>
public sealed class ClaimStore
{
    public sealed record ClaimRow(
        string Handle, string? CaptionOverride, string? FirstComment, int AttemptCount, Guid LeaseToken, DateTime LeaseExpiresAt,
        string Platform, string AccountId, byte[]? Credentials);

    /// <summary>
    /// scheduled → publishing with a new lease and one more attempt, if the target is waiting and due; null otherwise.
    /// Returns what the publisher needs of the target and its account.
    /// </summary>
    public Task<ClaimRow?> ClaimAsync(NpgsqlTransaction tx, string postId, string targetId, TimeSpan lease)
        => tx.Connection!.QuerySingleOrDefaultAsync<ClaimRow>($"""
            UPDATE targets t
            SET status = '{TargetStatus.Publishing}', lease_token = gen_random_uuid(), lease_expires_at = clock_timestamp() + @lease,
                attempt_count = t.attempt_count + 1, last_attempt_at = clock_timestamp()
            FROM social_accounts a
            WHERE t.id = @targetId AND t.post_id = @postId AND a.id = t.social_account_id
              AND t.status = '{TargetStatus.Scheduled}' AND t.next_attempt_at <= clock_timestamp()
            RETURNING a.handle, t.caption_override, t.first_comment, t.attempt_count, t.lease_token, t.lease_expires_at,
                t.platform, a.id AS account_id, a.credentials
            """, new { targetId, postId, lease }, tx);

    public Task<string?> PostOfTargetAsync(NpgsqlTransaction tx, string targetId)
        => tx.Connection!.ExecuteScalarAsync<string?>("SELECT post_id FROM targets WHERE id = @targetId", new { targetId }, tx);

    /// <summary>Up to <paramref name="batch"/> targets whose claim expired without a report, oldest first.</summary>
    public async Task<List<(string TargetId, string PostId)>> ExpiredAsync(NpgsqlConnection connection, int batch)
        => (await connection.QueryAsync<(string, string)>($"""
            SELECT id, post_id FROM targets
            WHERE status = '{TargetStatus.Publishing}' AND lease_expires_at < clock_timestamp()
            ORDER BY lease_expires_at LIMIT @batch
            """, new { batch })).AsList();

    public Task MarkPublishedAsync(NpgsqlTransaction tx, string targetId, DateTimeOffset at, string externalPostId, string? externalUrl)
        => tx.Connection!.ExecuteAsync($"""
            UPDATE targets SET status = '{TargetStatus.Published}', published_at = @at, external_post_id = @externalPostId,
                external_url = @externalUrl, error_code = NULL, error_message = NULL, lease_expires_at = NULL
            WHERE id = @targetId
            """, new { at, externalPostId, externalUrl, targetId }, tx);

    /// <summary>Back to scheduled for another attempt at <paramref name="retryAt"/>, keeping the error that caused it.</summary>
    public Task ScheduleRetryAsync(NpgsqlTransaction tx, string targetId, DateTimeOffset retryAt, string errorCode, string errorMessage)
        => tx.Connection!.ExecuteAsync($"""
            UPDATE targets SET status = '{TargetStatus.Scheduled}', next_attempt_at = @retryAt, error_code = @errorCode,
                error_message = @errorMessage, lease_expires_at = NULL
            WHERE id = @targetId
            """, new { retryAt, errorCode, errorMessage, targetId }, tx);

    public Task MarkFailedAsync(NpgsqlTransaction tx, string targetId, string errorCode, string errorMessage)
        => tx.Connection!.ExecuteAsync($"""
            UPDATE targets SET status = '{TargetStatus.Failed}', error_code = @errorCode, error_message = @errorMessage, lease_expires_at = NULL
            WHERE id = @targetId
            """, new { errorCode, errorMessage, targetId }, tx);
}
