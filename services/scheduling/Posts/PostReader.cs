using Npgsql;
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
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var rows = await store.AuditLogAsync(connection, workspaceId, postId);
        if (rows.Count == 0)
        {
            throw ApiException.NotFound("Post");
        }

        return rows.Select(r => new AuditEntry(r.Action, r.ActorKeyId, r.Reason, PostStore.Utc(r.OldTime), PostStore.Utc(r.NewTime), PostStore.Utc(r.At))).ToList();
    }
}
