using System.Text.Json;
using Dapper;
using Npgsql;

namespace ScheduledPosts.Scheduling.Posts;

/// <summary>The posts, targets and audit tables. Plain SQL; every mutation runs in the caller's transaction.</summary>
public sealed class PostStore
{
    public sealed record PostRow(
        string Id, string WorkspaceId, string Status, string Caption, string? Timezone, DateTime? ScheduledFor,
        DateTime? PublishedAt, DateTime? CancelledAt, string? CancelReason, long ScheduleVersion, string Metadata,
        DateTime CreatedAt, DateTime UpdatedAt, string? CreatedByKeyId);

    public sealed record TargetRow(
        string Id, string PostId, string SocialAccountId, string Platform, int Position, string Status,
        string? CaptionOverride, string? FirstComment, DateTime? PublishedAt, string? ExternalPostId, string? ExternalUrl,
        string? ErrorCode, string? ErrorMessage, int AttemptCount, DateTime? LastAttemptAt, Guid? LeaseToken, DateTime? LeaseExpiresAt);

    private const string PostColumns = """
        id, workspace_id, status, caption, timezone, scheduled_for, published_at, cancelled_at, cancel_reason,
        schedule_version, metadata::text AS metadata, created_at, updated_at, created_by_key_id
        """;

    private const string TargetColumns = """
        id, post_id, social_account_id, platform, position, status, caption_override, first_comment, published_at,
        external_post_id, external_url, error_code, error_message, attempt_count, last_attempt_at, lease_token, lease_expires_at
        """;

    /// <summary>Locks the post row: every change to a post and its targets serialises on it.</summary>
    public Task<PostRow?> LockAsync(NpgsqlTransaction tx, string postId, string? workspaceId = null)
        => tx.Connection!.QuerySingleOrDefaultAsync<PostRow>(
            $"SELECT {PostColumns} FROM posts WHERE id = @postId AND (@workspaceId::text IS NULL OR workspace_id = @workspaceId) FOR UPDATE",
            new { postId, workspaceId }, tx);

    public async Task<PostView?> GetAsync(NpgsqlConnection connection, string postId, string? workspaceId, NpgsqlTransaction? tx = null)
    {
        var post = await connection.QuerySingleOrDefaultAsync<PostRow>(
            $"SELECT {PostColumns} FROM posts WHERE id = @postId AND (@workspaceId::text IS NULL OR workspace_id = @workspaceId)",
            new { postId, workspaceId }, tx);
        return post is null ? null : ToView(post, await TargetsAsync(connection, postId, tx));
    }

    public async Task<List<TargetRow>> TargetsAsync(NpgsqlConnection connection, string postId, NpgsqlTransaction? tx = null)
        => (await connection.QueryAsync<TargetRow>(
            $"SELECT {TargetColumns} FROM targets WHERE post_id = @postId ORDER BY position", new { postId }, tx)).AsList();

    public async Task InsertAsync(NpgsqlTransaction tx, PostRow post, IEnumerable<TargetRow> targets)
    {
        await tx.Connection!.ExecuteAsync("""
            INSERT INTO posts (id, workspace_id, status, caption, timezone, scheduled_for, schedule_version, metadata, created_at, updated_at, created_by_key_id)
            VALUES (@Id, @WorkspaceId, @Status, @Caption, @Timezone, @ScheduledFor, @ScheduleVersion, @Metadata::jsonb, @CreatedAt, @UpdatedAt, @CreatedByKeyId)
            """, post, tx);
        await tx.Connection!.ExecuteAsync("""
            INSERT INTO targets (id, post_id, social_account_id, platform, position, status, caption_override, first_comment)
            VALUES (@Id, @PostId, @SocialAccountId, @Platform, @Position, @Status, @CaptionOverride, @FirstComment)
            """, targets, tx);
    }

    public Task AuditAsync(NpgsqlTransaction tx, PostRow post, string action, string? actorKeyId,
        string? reason = null, DateTimeOffset? oldTime = null, DateTimeOffset? newTime = null)
        => tx.Connection!.ExecuteAsync("""
            INSERT INTO post_audit (post_id, workspace_id, action, actor_key_id, reason, old_time, new_time)
            VALUES (@postId, @workspaceId, @action, @actorKeyId, @reason, @oldTime, @newTime)
            """,
            new { postId = post.Id, workspaceId = post.WorkspaceId, action, actorKeyId, reason, oldTime, newTime }, tx);

    public static PostView ToView(PostRow post, IEnumerable<TargetRow> targets) => new(
        post.Id, post.WorkspaceId, post.Status, post.Caption, post.Timezone, Utc(post.ScheduledFor), Utc(post.PublishedAt),
        Utc(post.CancelledAt), post.CancelReason, post.ScheduleVersion,
        JsonSerializer.Deserialize<Dictionary<string, string>>(post.Metadata) ?? [],
        Utc(post.CreatedAt), Utc(post.UpdatedAt), post.CreatedByKeyId,
        targets.Select(t => new TargetView(
            t.Id, t.SocialAccountId, t.Platform, t.Status, t.CaptionOverride, t.FirstComment, Utc(t.PublishedAt),
            t.ExternalPostId, t.ExternalUrl, t.ErrorCode, t.ErrorMessage, t.AttemptCount, Utc(t.LastAttemptAt))).ToList(),
        []);

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    private static DateTimeOffset? Utc(DateTime? value) => value is null ? null : Utc(value.Value);
}
