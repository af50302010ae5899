using System.Globalization;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Posts;

/// <summary>The posts a bulk request names: by <c>ids</c>, or by the filters of <c>GET /v1/posts</c>.</summary>
public sealed record BulkFilter(
    string? Status = null, string? SocialAccountId = null, string? Platform = null, string? ScheduledFrom = null, string? ScheduledTo = null);

public sealed record BulkCancelRequest(List<string?>? Ids = null, BulkFilter? Filter = null, string? Reason = null);

public sealed record BulkRescheduleRequest(List<string?>? Ids = null, BulkFilter? Filter = null, string? ScheduledFor = null, long? ShiftSeconds = null);

public sealed record BulkDeleteRequest(List<string?>? Ids = null, BulkFilter? Filter = null);

public sealed record BulkItemError(string Code, string Message);

/// <summary>One post's outcome: its status after the change, or the error its single call would have answered.</summary>
public sealed record BulkItemResult(string Id, bool Ok, string? Status = null, BulkItemError? Error = null);

public sealed record BulkSummary(int Total, int Succeeded, int Failed);

public sealed record BulkResult(IReadOnlyList<BulkItemResult> Data, BulkSummary Summary);

/// <summary>
/// Bulk cancel, reschedule and delete (docs/api.md#bulk-operations): the selection is resolved once, then each post goes
/// through its single call in <see cref="PostCommands"/> — its own transaction, lock and rules — so a post's result is
/// exactly what that call would have answered, and a post racing the dispatcher gets one outcome, as with the single
/// call. A failure of one post never stops the others.
/// </summary>
public sealed class PostBulk(NpgsqlDataSource dataSource, PostStore store, PostCommands commands, TimeProvider clock)
{
    public const int MaxIds = 1000;
    public const int MaxMatches = 10_000;

    /// <summary>Posts changed at once: enough to finish 1,000 in seconds, few enough to leave the pool to others.</summary>
    private const int Parallelism = 4;

    /// <summary>Sentinel of a deleted post's result (a deleted post has no status of its own).</summary>
    public const string Deleted = "deleted";

    public async Task<BulkResult> CancelAsync(InternalIdentity who, BulkCancelRequest request)
    {
        PostRules.ValidateCancelReason(request.Reason);
        var ids = await SelectAsync(who, request.Ids, request.Filter);
        return await EachAsync(ids, async id => (await commands.CancelAsync(who, id, request.Reason, ifMatch: null)).Post.Status);
    }

    public async Task<BulkResult> RescheduleAsync(InternalIdentity who, BulkRescheduleRequest request)
    {
        Func<string, Task<PostResult>> reschedule;
        if (request.ScheduledFor is not null && request.ShiftSeconds is not null)
        {
            throw ApiException.Validation("shiftSeconds", "Give either scheduledFor or shiftSeconds, not both.");
        }

        if (request.ShiftSeconds is { } shift)
        {
            if (shift == 0 || Math.Abs(shift) > PostRules.Horizon.TotalSeconds)
            {
                throw ApiException.Validation("shiftSeconds",
                    $"shiftSeconds must be a non-zero number of seconds, at most {PostRules.Horizon.TotalSeconds.ToString(CultureInfo.InvariantCulture)} either way.");
            }

            reschedule = id => commands.RescheduleByAsync(who, id, TimeSpan.FromSeconds(shift), ifMatch: null);
        }
        else
        {
            if (request.ScheduledFor is null)
            {
                throw ApiException.Validation("scheduledFor", "Give scheduledFor (the new time of every post) or shiftSeconds (how far to move each).");
            }

            // Checked once for the whole request: a bad time is the request's 422, not a thousand items' errors.
            PostRules.ParseScheduledFor(request.ScheduledFor, clock.GetUtcNow());
            reschedule = id => commands.RescheduleAsync(who, id, request.ScheduledFor, ifMatch: null);
        }

        var ids = await SelectAsync(who, request.Ids, request.Filter);
        return await EachAsync(ids, async id => (await reschedule(id)).Post.Status);
    }

    public async Task<BulkResult> DeleteAsync(InternalIdentity who, BulkDeleteRequest request)
    {
        var ids = await SelectAsync(who, request.Ids, request.Filter);
        return await EachAsync(ids, async id =>
        {
            await commands.DeleteAsync(who, id, ifMatch: null);
            return Deleted;
        });
    }

    /// <summary>The ids named (each once, in the order given) or the posts the filter matches now, newest first.</summary>
    private async Task<IReadOnlyList<string>> SelectAsync(InternalIdentity who, List<string?>? ids, BulkFilter? filter)
    {
        if ((ids is null) == (filter is null))
        {
            throw ApiException.Validation(ids is null ? "ids" : "filter", "Select the posts either by ids or by filter (one of the two).");
        }

        if (ids is not null)
        {
            if (ids.Count is 0 or > MaxIds)
            {
                throw ApiException.Validation("ids", $"ids must name 1 to {MaxIds} posts; select more with a filter.");
            }

            var issues = ids.Select((id, i) => (id, i)).Where(x => string.IsNullOrWhiteSpace(x.id))
                .Select(x => new ValidationIssue($"ids[{x.i}]", $"ids[{x.i}] must be a post id.")).ToList();
            if (issues.Count > 0)
            {
                throw ApiException.Validation(issues);
            }

            return ids.Select(id => id!).Distinct(StringComparer.Ordinal).ToList();
        }

        PostStore.ListFilter selection;
        try
        {
            selection = new PostQuery(filter!.Status, filter.Platform, filter.SocialAccountId, filter.ScheduledFrom, filter.ScheduledTo, null, null)
                .ToFilter(who.WorkspaceId) with { Limit = MaxMatches + 1 };
        }
        catch (ApiException error) when (error.Issues is { Count: > 0 } issues)
        {
            throw ApiException.Validation(issues.Select(i => i with { Path = $"filter.{i.Path}" }).ToList());
        }

        await using var connection = await dataSource.OpenConnectionAsync();
        var matched = await store.ListIdsAsync(connection, selection);
        if (matched.Count > MaxMatches)
        {
            throw ApiException.Validation("filter", $"The filter matches more than {MaxMatches} posts; narrow it (scheduledFrom, scheduledTo, status).");
        }

        return matched;
    }

    private static async Task<BulkResult> EachAsync(IReadOnlyList<string> ids, Func<string, Task<string>> change)
    {
        var results = new BulkItemResult[ids.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, ids.Count), new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (i, _) =>
        {
            try
            {
                results[i] = new BulkItemResult(ids[i], true, Status: await change(ids[i]));
            }
            catch (ApiException error) when (error.Status < 500)
            {
                results[i] = new BulkItemResult(ids[i], false, Error: new BulkItemError(error.Code, error.Message));
            }
        });
        int succeeded = results.Count(r => r.Ok);
        return new BulkResult(results, new BulkSummary(results.Length, succeeded, results.Length - succeeded));
    }
}
