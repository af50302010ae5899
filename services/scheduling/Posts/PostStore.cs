using System.Text.Json;
using Dapper;
using Npgsql;

namespace ScheduledPosts.Scheduling.Posts;

/// <summary>The posts, targets, media links and audit tables. Plain SQL; every mutation runs in the caller's transaction.</summary>
public sealed class PostStore
{
    public sealed record PostRow(
        string Id, string WorkspaceId, string Status, string Caption, string? Timezone, DateTime? ScheduledFor,
        DateTime? PublishedAt, DateTime? CancelledAt, string? CancelReason, long ScheduleVersion, string Metadata,
        DateTime CreatedAt, DateTime UpdatedAt, string? CreatedByKeyId, long Revision)
    {
        public string ETag => $"\"{Revision}\"";
    }

    public sealed record TargetRow(
        string Id, string PostId, string SocialAccountId, string Platform, int Position, string Status,
        string? CaptionOverride, string? FirstComment, DateTime? PublishedAt, string? ExternalPostId, string? ExternalUrl,
        string? ErrorCode, string? ErrorMessage, int AttemptCount, DateTime? LastAttemptAt, Guid? LeaseToken, DateTime? LeaseExpiresAt);

    public sealed record MediaLinkRow(string PostId, string MediaId, int Position, string? AltText);

    public sealed record AuditRow(long Id, string PostId, string Action, string? ActorKeyId, string? Reason, DateTime? OldTime, DateTime? NewTime, DateTime At);

    private const string PostColumns = """
        id, workspace_id, status, caption, timezone, scheduled_for, published_at, cancelled_at, cancel_reason,
        schedule_version, metadata::text AS metadata, created_at, updated_at, created_by_key_id, revision
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

    /// <summary>
    /// The posts of <paramref name="postIds"/> that exist, each row locked, in id order (so two callers cannot deadlock).
    /// With <paramref name="skipLocked"/>, only those whose lock can be had at once: a post missing from the answer may
    /// be another transaction's to change just now.
    /// </summary>
    public async Task<Dictionary<string, PostRow>> LockManyAsync(NpgsqlTransaction tx, string[] postIds, bool skipLocked = false)
        => (await tx.Connection!.QueryAsync<PostRow>(
            $"SELECT {PostColumns} FROM posts WHERE id = ANY(@postIds) ORDER BY id FOR UPDATE{(skipLocked ? " SKIP LOCKED" : "")}", new { postIds }, tx))
            .ToDictionary(p => p.Id, StringComparer.Ordinal);

    /// <summary>Those of <paramref name="postIds"/> that exist, read without waiting for their locks.</summary>
    public async Task<HashSet<string>> ExistingAsync(NpgsqlTransaction tx, string[] postIds)
        => (await tx.Connection!.QueryAsync<string>("SELECT id FROM posts WHERE id = ANY(@postIds)", new { postIds }, tx))
            .ToHashSet(StringComparer.Ordinal);

    /// <summary><see cref="TouchAsync"/> for many posts in one statement; their rows must be locked already.</summary>
    public Task TouchManyAsync(NpgsqlTransaction tx, string[] postIds)
        => tx.Connection!.ExecuteAsync(
            "UPDATE posts SET revision = revision + 1, updated_at = clock_timestamp() WHERE id = ANY(@postIds)", new { postIds }, tx);

    public async Task<(PostView View, string ETag)?> GetAsync(NpgsqlConnection connection, string postId, string? workspaceId, NpgsqlTransaction? tx = null)
    {
        // One round trip: every domain event reads its post this way, inside the transaction that changed it.
        using var results = await connection.QueryMultipleAsync($"""
            SELECT {PostColumns} FROM posts WHERE id = @postId AND (@workspaceId::text IS NULL OR workspace_id = @workspaceId);
            SELECT {TargetColumns} FROM targets WHERE post_id = @postId ORDER BY position;
            SELECT post_id, media_id, position, alt_text FROM post_media WHERE post_id = @postId ORDER BY position;
            """, new { postId, workspaceId }, tx);
        var post = await results.ReadSingleOrDefaultAsync<PostRow>();
        var targets = (await results.ReadAsync<TargetRow>()).AsList();
        var media = (await results.ReadAsync<MediaLinkRow>()).AsList();
        return post is null ? null : (ToView(post, targets, media), post.ETag);
    }

    /// <summary>
    /// <see cref="GetAsync"/> for many posts in one round trip, as the REST API shows them; a post that does not exist is
    /// missing from the answer.
    /// </summary>
    public async Task<Dictionary<string, PostView>> GetManyAsync(NpgsqlTransaction tx, string[] postIds)
    {
        using var results = await tx.Connection!.QueryMultipleAsync($"""
            SELECT {PostColumns} FROM posts WHERE id = ANY(@postIds);
            SELECT {TargetColumns} FROM targets WHERE post_id = ANY(@postIds) ORDER BY position;
            SELECT post_id, media_id, position, alt_text FROM post_media WHERE post_id = ANY(@postIds) ORDER BY position;
            """, new { postIds }, tx);
        var posts = (await results.ReadAsync<PostRow>()).AsList();
        var targets = (await results.ReadAsync<TargetRow>()).ToLookup(t => t.PostId);
        var media = (await results.ReadAsync<MediaLinkRow>()).ToLookup(m => m.PostId);
        return posts.ToDictionary(p => p.Id, p => ToView(p, targets[p.Id], media[p.Id]), StringComparer.Ordinal);
    }

    public sealed record ListFilter(
        string WorkspaceId, IReadOnlyList<string>? Statuses, string? Platform, string? SocialAccountId,
        DateTimeOffset? ScheduledFrom, DateTimeOffset? ScheduledTo, string? AfterId, int Limit);

    /// <summary>The posts of <see cref="ListFilter"/>, newest first (the list and the bulk operations select alike).</summary>
    private const string Matching = """
        FROM posts p
        WHERE workspace_id = @WorkspaceId
          AND (@AfterId::text IS NULL OR id < @AfterId)
          AND (@Statuses::text[] IS NULL OR status = ANY(@Statuses))
          AND (@ScheduledFrom::timestamptz IS NULL OR scheduled_for >= @ScheduledFrom)
          AND (@ScheduledTo::timestamptz IS NULL OR scheduled_for < @ScheduledTo)
          AND (@Platform::text IS NULL OR EXISTS (SELECT 1 FROM targets t WHERE t.post_id = p.id AND t.platform = @Platform))
          AND (@SocialAccountId::text IS NULL OR EXISTS (SELECT 1 FROM targets t WHERE t.post_id = p.id AND t.social_account_id = @SocialAccountId))
        ORDER BY id DESC
        LIMIT @Limit
        """;

    private static object Parameters(ListFilter filter) => new
    {
        filter.WorkspaceId,
        filter.AfterId,
        Statuses = filter.Statuses?.ToArray(),
        filter.ScheduledFrom,
        filter.ScheduledTo,
        filter.Platform,
        filter.SocialAccountId,
        filter.Limit,
    };

    /// <summary>The ids of the posts <paramref name="filter"/> selects, newest first, at most its limit.</summary>
    public async Task<List<string>> ListIdsAsync(NpgsqlConnection connection, ListFilter filter)
        => (await connection.QueryAsync<string>($"SELECT id {Matching}", Parameters(filter))).AsList();

    /// <summary>Newest first, keyset-paginated by id: a page never shifts when posts are created meanwhile.</summary>
    public async Task<List<PostView>> ListAsync(NpgsqlConnection connection, ListFilter filter)
    {
        var posts = (await connection.QueryAsync<PostRow>($"SELECT {PostColumns} {Matching}", Parameters(filter))).AsList();
        string[] ids = posts.Select(p => p.Id).ToArray();
        var targets = (await connection.QueryAsync<TargetRow>(
            $"SELECT {TargetColumns} FROM targets WHERE post_id = ANY(@ids) ORDER BY position", new { ids })).ToLookup(t => t.PostId);
        var media = (await MediaAsync(connection, ids)).ToLookup(m => m.PostId);
        return posts.Select(p => ToView(p, targets[p.Id], media[p.Id])).ToList();
    }

    public async Task<List<TargetRow>> TargetsAsync(NpgsqlConnection connection, string postId, NpgsqlTransaction? tx = null)
        => (await connection.QueryAsync<TargetRow>(
            $"SELECT {TargetColumns} FROM targets WHERE post_id = @postId ORDER BY position", new { postId }, tx)).AsList();

    /// <summary>The targets of many posts in one statement, each post's in position order.</summary>
    public async Task<ILookup<string, TargetRow>> TargetsOfAsync(NpgsqlTransaction tx, string[] postIds)
        => (await tx.Connection!.QueryAsync<TargetRow>(
            $"SELECT {TargetColumns} FROM targets WHERE post_id = ANY(@postIds) ORDER BY position", new { postIds }, tx)).ToLookup(t => t.PostId);

    public async Task<List<MediaLinkRow>> MediaAsync(NpgsqlConnection connection, string[] postIds, NpgsqlTransaction? tx = null)
        => (await connection.QueryAsync<MediaLinkRow>(
            "SELECT post_id, media_id, position, alt_text FROM post_media WHERE post_id = ANY(@postIds) ORDER BY position",
            new { postIds }, tx)).AsList();

    public async Task InsertAsync(NpgsqlTransaction tx, PostRow post, IEnumerable<TargetRow> targets)
    {
        await tx.Connection!.ExecuteAsync("""
            INSERT INTO posts (id, workspace_id, status, caption, timezone, scheduled_for, schedule_version, metadata, created_at, updated_at, created_by_key_id)
            VALUES (@Id, @WorkspaceId, @Status, @Caption, @Timezone, @ScheduledFor, @ScheduleVersion, @Metadata::jsonb, @CreatedAt, @UpdatedAt, @CreatedByKeyId)
            """, post, tx);
        await InsertTargetsAsync(tx, targets);
    }

    public Task InsertTargetsAsync(NpgsqlTransaction tx, IEnumerable<TargetRow> targets)
        => tx.Connection!.ExecuteAsync("""
            INSERT INTO targets (id, post_id, social_account_id, platform, position, status, caption_override, first_comment)
            VALUES (@Id, @PostId, @SocialAccountId, @Platform, @Position, @Status, @CaptionOverride, @FirstComment)
            """, targets, tx);

    public async Task ReplaceMediaAsync(NpgsqlTransaction tx, string postId, IReadOnlyList<string> mediaIds)
    {
        await tx.Connection!.ExecuteAsync("DELETE FROM post_media WHERE post_id = @postId", new { postId }, tx);
        await tx.Connection!.ExecuteAsync(
            "INSERT INTO post_media (post_id, media_id, position) VALUES (@postId, @mediaId, @position)",
            mediaIds.Select((mediaId, position) => new { postId, mediaId, position }), tx);
    }

    /// <summary>Marks a change to the post or its targets: a new revision (ETag) and <c>updatedAt</c>.</summary>
    public Task TouchAsync(NpgsqlTransaction tx, string postId)
        => tx.Connection!.ExecuteAsync(
            "UPDATE posts SET revision = revision + 1, updated_at = clock_timestamp() WHERE id = @postId", new { postId }, tx);

    public Task AuditAsync(NpgsqlTransaction tx, PostRow post, string action, string? actorKeyId,
        string? reason = null, DateTimeOffset? oldTime = null, DateTimeOffset? newTime = null)
        => tx.Connection!.ExecuteAsync("""
            INSERT INTO post_audit (post_id, workspace_id, action, actor_key_id, reason, old_time, new_time)
            VALUES (@postId, @workspaceId, @action, @actorKeyId, @reason, @oldTime, @newTime)
            """,
            new { postId = post.Id, workspaceId = post.WorkspaceId, action, actorKeyId, reason, oldTime, newTime }, tx);

    /// <summary>The post's audit rows by id: all (<paramref name="limit"/> null), or up to <paramref name="limit"/> after <paramref name="afterId"/>.</summary>
    public async Task<List<AuditRow>> AuditLogAsync(NpgsqlConnection connection, string workspaceId, string postId, long? afterId = null, int? limit = null)
        => (await connection.QueryAsync<AuditRow>("""
            SELECT id, post_id, action, actor_key_id, reason, old_time, new_time, at
            FROM post_audit WHERE workspace_id = @workspaceId AND post_id = @postId AND (@afterId::bigint IS NULL OR id > @afterId)
            ORDER BY id LIMIT @limit
            """, new { workspaceId, postId, afterId, limit })).AsList();

    public Task<bool> HasAuditLogAsync(NpgsqlConnection connection, string workspaceId, string postId)
        => connection.ExecuteScalarAsync<bool>(
            "SELECT EXISTS (SELECT 1 FROM post_audit WHERE workspace_id = @workspaceId AND post_id = @postId)", new { workspaceId, postId });

    public Task UpdateDraftAsync(NpgsqlTransaction tx, string postId, string caption, string? timezone, string? metadataJson)
        => tx.Connection!.ExecuteAsync("""
            UPDATE posts SET caption = @caption, timezone = COALESCE(@timezone, timezone), metadata = COALESCE(@metadataJson::jsonb, metadata)
            WHERE id = @postId
            """, new { caption, timezone, metadataJson, postId }, tx);

    public async Task ReplaceTargetsAsync(NpgsqlTransaction tx, string postId, IEnumerable<TargetRow> targets)
    {
        await tx.Connection!.ExecuteAsync("DELETE FROM targets WHERE post_id = @postId", new { postId }, tx);
        await InsertTargetsAsync(tx, targets);
    }

    /// <summary>The workspace's accounts among <paramref name="accountIds"/>, by id.</summary>
    public async Task<Dictionary<string, (string Id, string Platform, string Status)>> AccountsAsync(
        NpgsqlTransaction tx, string workspaceId, string[] accountIds)
        => (await tx.Connection!.QueryAsync<(string Id, string Platform, string Status)>(
                "SELECT id, platform, status FROM social_accounts WHERE workspace_id = @workspaceId AND id = ANY(@accountIds)",
                new { workspaceId, accountIds }, tx))
            .ToDictionary(a => a.Id);

    /// <summary>Which of <paramref name="mediaIds"/> the workspace holds and no delete has orphaned.</summary>
    public async Task<HashSet<string>> UsableMediaAsync(NpgsqlTransaction tx, string workspaceId, string[] mediaIds)
        => (await tx.Connection!.QueryAsync<string>(
            "SELECT id FROM media WHERE workspace_id = @workspaceId AND id = ANY(@mediaIds) AND orphaned_at IS NULL",
            new { workspaceId, mediaIds }, tx)).ToHashSet();

    /// <summary>The content types of the post's media, in order.</summary>
    public async Task<List<(string ContentType, long SizeBytes)>> MediaTypesAndSizesAsync(NpgsqlTransaction tx, string postId)
        => (await tx.Connection!.QueryAsync<(string, long)>("""
            SELECT m.content_type, m.size_bytes FROM post_media pm JOIN media m ON m.id = pm.media_id
            WHERE pm.post_id = @postId ORDER BY pm.position
            """, new { postId }, tx)).AsList();

    /// <summary>
    /// The one rule, for retry and reschedule alike, of which targets may run again: not one whose last attempt may have
    /// reached the platform (<c>UNKNOWN_OUTCOME</c>), unless the caller asks for it explicitly (<c>@includeUnknown</c>).
    /// </summary>
    private const string MayRunAgain = $"(@includeUnknown OR error_code IS DISTINCT FROM '{TargetErrors.UnknownOutcome}')";

    /// <summary>
    /// Puts the post on the schedule at <paramref name="due"/> under a new schedule version (a cancel is undone), and
    /// brings the targets in <paramref name="revive"/> that may run again back to scheduled. Awaiting approval, the
    /// post is needs_approval at that time instead and those targets drafts. Returns the version and the revived targets.
    /// </summary>
    public async Task<(long Version, List<string> TargetIds)> ScheduleAsync(
        NpgsqlTransaction tx, string postId, DateTimeOffset due, string[] revive, bool awaitingApproval = false)
    {
        var connection = tx.Connection!;
        string postStatus = awaitingApproval ? PostStatus.NeedsApproval : PostStatus.Scheduled;
        string targetStatus = awaitingApproval ? TargetStatus.Draft : TargetStatus.Scheduled;
        DateTimeOffset? nextAttempt = awaitingApproval ? null : due;
        long version = await connection.ExecuteScalarAsync<long>("""
            UPDATE posts SET status = @postStatus, scheduled_for = @due, schedule_version = schedule_version + 1,
                cancelled_at = NULL, cancel_reason = NULL
            WHERE id = @postId
            RETURNING schedule_version
            """, new { postStatus, due, postId }, tx);
        var targetIds = (await connection.QueryAsync<string>($"""
            UPDATE targets SET status = @targetStatus, next_attempt_at = @nextAttempt, error_code = NULL, error_message = NULL
            WHERE post_id = @postId AND status = ANY(@revive) AND {MayRunAgain}
            RETURNING id
            """, new { targetStatus, nextAttempt, postId, revive, includeUnknown = false }, tx)).AsList();
        return (version, targetIds);
    }

    /// <summary>Whether any target of the post went out or may be going out (a cancelled post with one cannot be revived).</summary>
    public Task<bool> AnyTargetPublishedOrPublishingAsync(NpgsqlTransaction tx, string postId)
        => tx.Connection!.ExecuteScalarAsync<bool>(
            $"SELECT EXISTS (SELECT 1 FROM targets WHERE post_id = @postId AND status IN ('{TargetStatus.Published}', '{TargetStatus.Publishing}'))",
            new { postId }, tx);

    public Task<bool> AnyTargetPublishedAsync(NpgsqlTransaction tx, string postId)
        => tx.Connection!.ExecuteScalarAsync<bool>(
            $"SELECT EXISTS (SELECT 1 FROM targets WHERE post_id = @postId AND status = '{TargetStatus.Published}')", new { postId }, tx);

    /// <summary>Cancels the post's targets still waiting to be claimed; returns how many.</summary>
    public Task<int> CancelWaitingTargetsAsync(NpgsqlTransaction tx, string postId)
        => tx.Connection!.ExecuteAsync(
            $"UPDATE targets SET status = '{TargetStatus.Cancelled}', next_attempt_at = NULL WHERE post_id = @postId AND status = '{TargetStatus.Scheduled}'",
            new { postId }, tx);

    public Task CancelTargetAsync(NpgsqlTransaction tx, string targetId)
        => tx.Connection!.ExecuteAsync(
            $"UPDATE targets SET status = '{TargetStatus.Cancelled}', next_attempt_at = NULL WHERE id = @targetId", new { targetId }, tx);

    public Task MarkCancelledAsync(NpgsqlTransaction tx, string postId, string? reason)
        => tx.Connection!.ExecuteAsync(
            "UPDATE posts SET cancelled_at = clock_timestamp(), cancel_reason = @reason WHERE id = @postId", new { reason, postId }, tx);

    /// <summary>
    /// Back to scheduled, due now and with fresh attempts: the post's failed targets (those of unknown outcome only
    /// when <paramref name="includeUnknown"/>). Returns their ids.
    /// </summary>
    public async Task<List<string>> RequeueFailedTargetsAsync(NpgsqlTransaction tx, string postId, bool includeUnknown)
        => (await tx.Connection!.QueryAsync<string>($"""
            UPDATE targets SET status = '{TargetStatus.Scheduled}', attempt_count = 0, next_attempt_at = clock_timestamp(),
                error_code = NULL, error_message = NULL, lease_token = NULL, lease_expires_at = NULL
            WHERE post_id = @postId AND status = '{TargetStatus.Failed}' AND {MayRunAgain}
            RETURNING id
            """, new { postId, includeUnknown }, tx)).AsList();

    /// <summary>The post's targets whose removal from their platform is asked for and not yet done.</summary>
    public async Task<HashSet<string>> UnpublishPendingAsync(NpgsqlTransaction tx, string postId)
        => (await tx.Connection!.QueryAsync<string>(
            "SELECT id FROM targets WHERE post_id = @postId AND unpublish_requested_at IS NOT NULL", new { postId }, tx)).ToHashSet();

    /// <summary>Asks for the removal of the targets' copies, due now, with fresh attempts and no error of an earlier removal.</summary>
    public Task RequestUnpublishAsync(NpgsqlTransaction tx, string[] targetIds)
        => tx.Connection!.ExecuteAsync("""
            UPDATE targets SET unpublish_requested_at = clock_timestamp(), unpublish_attempts = 0, next_attempt_at = clock_timestamp(),
                error_code = NULL, error_message = NULL, lease_token = NULL, lease_expires_at = NULL
            WHERE id = ANY(@targetIds)
            """, new { targetIds }, tx);

    public Task SetStatusAsync(NpgsqlTransaction tx, string postId, string status)
        => SetStatusManyAsync(tx, [postId], status);

    /// <summary><see cref="SetStatusAsync"/> for many posts in one statement.</summary>
    public Task SetStatusManyAsync(NpgsqlTransaction tx, string[] postIds, string status)
        => tx.Connection!.ExecuteAsync("UPDATE posts SET status = @status WHERE id = ANY(@postIds)", new { status, postIds }, tx);

    /// <summary>
    /// The posts' final statuses once every target is terminal, each with the time its last copy went out; one statement.
    /// </summary>
    public Task SettleManyAsync(NpgsqlTransaction tx, IReadOnlyList<(string PostId, string Status, DateTime? PublishedAt)> settled)
        => tx.Connection!.ExecuteAsync("""
            UPDATE posts p SET status = s.status, published_at = s.published_at
            FROM unnest(@postIds::text[], @statuses::text[], @publishedAts::timestamptz[]) AS s(id, status, published_at)
            WHERE p.id = s.id
            """,
            new
            {
                postIds = settled.Select(s => s.PostId).ToArray(),
                statuses = settled.Select(s => s.Status).ToArray(),
                publishedAts = settled.Select(s => s.PublishedAt).ToArray(),
            },
            tx);

    /// <summary>
    /// Deletes the post (targets and media links cascade); media no other post uses is marked orphaned in the same
    /// transaction, for the retention sweeper to remove from storage after the commit.
    /// </summary>
    public async Task DeleteAsync(NpgsqlTransaction tx, string postId)
    {
        await tx.Connection!.ExecuteAsync("""
            UPDATE media SET orphaned_at = clock_timestamp()
            WHERE id IN (SELECT media_id FROM post_media WHERE post_id = @postId)
              AND NOT EXISTS (SELECT 1 FROM post_media pm WHERE pm.media_id = media.id AND pm.post_id <> @postId)
            """, new { postId }, tx);
        await tx.Connection!.ExecuteAsync("DELETE FROM posts WHERE id = @postId", new { postId }, tx);
    }

    public static PostView ToView(PostRow post, IEnumerable<TargetRow> targets, IEnumerable<MediaLinkRow> media) => new(
        post.Id, post.WorkspaceId, post.Status, post.Caption, post.Timezone, Utc(post.ScheduledFor), Utc(post.PublishedAt),
        Utc(post.CancelledAt), post.CancelReason, post.ScheduleVersion,
        JsonSerializer.Deserialize<Dictionary<string, string>>(post.Metadata) ?? [],
        Utc(post.CreatedAt), Utc(post.UpdatedAt), post.CreatedByKeyId,
        targets.Select(t => new TargetView(
            t.Id, t.SocialAccountId, t.Platform, t.Status, t.CaptionOverride, t.FirstComment, Utc(t.PublishedAt),
            t.ExternalPostId, t.ExternalUrl, t.ErrorCode, t.ErrorMessage, t.AttemptCount, Utc(t.LastAttemptAt))).ToList(),
        media.Select(m => new MediaView(m.MediaId, m.Position, m.AltText)).ToList());

    public static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    public static DateTimeOffset? Utc(DateTime? value) => value is null ? null : Utc(value.Value);
}
