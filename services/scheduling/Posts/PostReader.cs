using System.Globalization;
using Npgsql;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Scheduling.Posts;

/// <summary>Reads posts for REST and gRPC callers: one post with its ETag, a filtered page, the audit log. Always within one workspace.</summary>
public sealed class PostReader(NpgsqlDataSource dataSource, PostStore store)
{
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

    /// <summary>The post's audit log; kept after a delete (the tombstone), so a deleted post's log still reads.</summary>
    public async Task<IReadOnlyList<AuditEntry>> AuditLogAsync(string workspaceId, string postId)
        => (await AuditLogAsync(workspaceId, postId, null)).Entries;

    /// <summary>The post's audit log, oldest first: all of it, or one page and the token of the next.</summary>
    public async Task<(IReadOnlyList<AuditEntry> Entries, string? NextPageToken)> AuditLogAsync(string workspaceId, string postId, PageRequest? page)
    {
        long? afterId = null;
        if (page?.AfterKey is { } after)
        {
            afterId = long.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out long id)
                ? id
                : throw ApiException.Validation("page_token", "page_token is not one this API returned.");
        }

        await using var connection = await dataSource.OpenConnectionAsync();
        var rows = await store.AuditLogAsync(connection, workspaceId, postId, afterId, page?.Size + 1);
        // Past the last page the post still has its log: only a post with none at all is not found.
        if (rows.Count == 0 && (afterId is null || !await store.HasAuditLogAsync(connection, workspaceId, postId)))
        {
            throw ApiException.NotFound("Post");
        }

        var (cut, next) = page is null ? (rows, null) : page.Cut(rows, r => r.Id.ToString(CultureInfo.InvariantCulture));
        return ([.. cut.Select(r => new AuditEntry(r.Action, r.ActorKeyId, r.Reason, PostStore.Utc(r.OldTime), PostStore.Utc(r.NewTime), PostStore.Utc(r.At)))], next);
    }
}
