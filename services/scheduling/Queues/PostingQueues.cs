using System.Text.Json;
using Dapper;
using NodaTime;
using Npgsql;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Scheduling.Queues;

public sealed record QueueSlotRequest(string? Day, string? Time);

public sealed record UpdateQueueRequest(string? Timezone, List<QueueSlotRequest?>? Slots);

public sealed record QueueSlotView(string Day, string Time);

/// <summary>An account's queue; an account without one has no timezone and no slots.</summary>
public sealed record QueueView(string SocialAccountId, string? Timezone, IReadOnlyList<QueueSlotView> Slots, DateTimeOffset? UpdatedAt);

/// <summary>The next free slots of an account's queue, as UTC instants.</summary>
public sealed record QueueNextView(string SocialAccountId, IReadOnlyList<DateTimeOffset> Slots);

/// <summary>
/// Posting queues of social accounts (docs/api.md#posting-queues): set and read an account's weekly slots, list its
/// next free ones, and take the earliest slot free in every account of a queued post.
/// </summary>
/// <remarks>
/// A slot is taken by a post of the account scheduled at that instant, so cancelling, deleting or rescheduling a post
/// frees its slot with no bookkeeping. Concurrent queued creates are kept apart by a lock per account (the queue row,
/// <c>FOR UPDATE</c>, held until the post commits) rather than a unique index on (account, time): such an index would
/// also refuse two posts an account schedules at the same time explicitly, which stays allowed.
/// </remarks>
public sealed class PostingQueues(NpgsqlDataSource dataSource, TimeProvider clock)
{
    public const int MaxNext = 100;

    /// <summary>How far ahead <c>queue/next</c> may start looking.</summary>
    public static readonly Duration MaxFromAhead = Duration.FromDays(366);

    private sealed record QueueRow(string SocialAccountId, string Timezone, string Slots, DateTime UpdatedAt);

    public async Task<QueueView> GetAsync(string workspaceId, string accountId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await EnsureAccountAsync(connection, workspaceId, accountId);
        var row = await connection.QuerySingleOrDefaultAsync<QueueRow>(
            "SELECT social_account_id, timezone, slots::text AS slots, updated_at FROM account_queues WHERE social_account_id = @accountId",
            new { accountId });
        return row is null ? new QueueView(accountId, null, [], null) : ToView(row);
    }

    public async Task<QueueView> UpdateAsync(string workspaceId, string accountId, UpdateQueueRequest request)
    {
        var (zone, slots) = QueueSlots.Validate(request.Timezone, request.Slots?.Select(s => s is null ? ((string?, string?)?)null : (s.Day, s.Time)).ToList());
        string json = JsonSerializer.Serialize(slots.Select(s => new QueueSlotView(s.DayName, s.TimeText)), JsonOptions);
        await using var connection = await dataSource.OpenConnectionAsync();
        var row = await connection.QuerySingleOrDefaultAsync<QueueRow>("""
            INSERT INTO account_queues (social_account_id, workspace_id, timezone, slots)
            SELECT id, workspace_id, @timezone, @json::jsonb FROM social_accounts WHERE id = @accountId AND workspace_id = @workspaceId
            ON CONFLICT (social_account_id) DO UPDATE SET timezone = EXCLUDED.timezone, slots = EXCLUDED.slots, updated_at = clock_timestamp()
            RETURNING social_account_id, timezone, slots::text AS slots, updated_at
            """, new { accountId, workspaceId, timezone = zone.Id, json });
        return row is null ? throw ApiException.NotFound("Social account") : ToView(row);
    }

    /// <summary>
    /// The account's next <paramref name="count"/> free slots in UTC, within the horizon from <paramref name="from"/>
    /// (now when absent or past; at most <see cref="MaxFromAhead"/> ahead: a calendar of a later week).
    /// </summary>
    public async Task<QueueNextView> NextAsync(string workspaceId, string accountId, int count, DateTimeOffset? from = null)
    {
        if (count is < 1 or > MaxNext)
        {
            throw ApiException.Validation("count", $"count must be between 1 and {MaxNext}.");
        }

        var now = Instant.FromDateTimeOffset(clock.GetUtcNow());
        var start = from is { } asked && Instant.FromDateTimeOffset(asked) > now ? Instant.FromDateTimeOffset(asked) : now;
        if (start > now + MaxFromAhead)
        {
            throw ApiException.Validation("from", $"from may be at most {MaxFromAhead.Days} days ahead.");
        }

        await using var connection = await dataSource.OpenConnectionAsync();
        await EnsureAccountAsync(connection, workspaceId, accountId);
        var row = await connection.QuerySingleOrDefaultAsync<QueueRow>(
            "SELECT social_account_id, timezone, slots::text AS slots, updated_at FROM account_queues WHERE social_account_id = @accountId",
            new { accountId });
        if (row is null)
        {
            return new QueueNextView(accountId, []);
        }

        var (zone, slots) = Parse(row);
        var taken = await TakenAsync(connection, null, [accountId], start);
        var free = QueueSlots.Between(zone, slots, start, start + QueueSlots.Horizon)
            .Where(i => !taken.Contains(i)).Take(count).Select(i => i.ToDateTimeOffset()).ToList();
        return new QueueNextView(accountId, free);
    }

    /// <summary>
    /// For a queued post: locks the queues of <paramref name="accountIds"/> (in id order, so two posts sharing accounts
    /// cannot deadlock) until <paramref name="tx"/> ends, and returns the earliest instant that is a slot of every one and
    /// free in each. 422 on <c>queue</c> when an account has no queue or no such slot exists within the horizon.
    /// </summary>
    public async Task<DateTimeOffset> TakeSlotAsync(NpgsqlTransaction tx, IReadOnlyCollection<string> accountIds)
    {
        var connection = tx.Connection!;
        string[] ids = accountIds.Distinct().Order(StringComparer.Ordinal).ToArray();
        var rows = (await connection.QueryAsync<QueueRow>("""
            SELECT social_account_id, timezone, slots::text AS slots, updated_at FROM account_queues
            WHERE social_account_id = ANY(@ids) ORDER BY social_account_id COLLATE "C" FOR UPDATE
            """, new { ids }, tx)).ToDictionary(r => r.SocialAccountId);
        if (ids.FirstOrDefault(id => !rows.ContainsKey(id) || Parse(rows[id]).Slots.Count == 0) is { } without)
        {
            throw ApiException.Validation("queue", $"The account {without} has no posting slots: set them with PUT /v1/social-accounts/{without}/queue.");
        }

        var now = Instant.FromDateTimeOffset(clock.GetUtcNow());
        // Read after the lock: under READ COMMITTED this sees every post a queued create before us committed.
        var taken = await TakenAsync(connection, tx, ids, now);
        var queues = ids.Select(id => Parse(rows[id])).Select(q => (q.Zone, (IReadOnlyCollection<WeeklySlot>)q.Slots)).ToList();
        var slot = QueueSlots.EarliestCommonFree(queues, taken, now)
            ?? throw ApiException.Validation("queue", ids.Length == 1
                ? $"The queue has no free slot within the next {QueueSlots.Horizon.Days} days."
                : $"No slot within the next {QueueSlots.Horizon.Days} days is in every target account's queue and free in each.");
        return slot.ToDateTimeOffset();
    }

    /// <summary>Instants after <paramref name="after"/> at which a post of one of the accounts is scheduled (a cancelled target takes none).</summary>
    private static async Task<HashSet<Instant>> TakenAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string[] accountIds, Instant after)
        => (await connection.QueryAsync<DateTime>($"""
                SELECT DISTINCT p.scheduled_for FROM targets t JOIN posts p ON p.id = t.post_id
                WHERE t.social_account_id = ANY(@accountIds) AND t.status NOT IN ('{TargetStatus.Cancelled}', '{TargetStatus.Draft}')
                  AND p.scheduled_for > @after AND p.scheduled_for <= @until
                """, new { accountIds, after = after.ToDateTimeOffset(), until = (after + QueueSlots.Horizon).ToDateTimeOffset() }, tx))
            .Select(t => Instant.FromDateTimeUtc(DateTime.SpecifyKind(t, DateTimeKind.Utc))).ToHashSet();

    private static async Task EnsureAccountAsync(NpgsqlConnection connection, string workspaceId, string accountId)
    {
        if (!await connection.ExecuteScalarAsync<bool>(
                "SELECT EXISTS (SELECT 1 FROM social_accounts WHERE id = @accountId AND workspace_id = @workspaceId)", new { accountId, workspaceId }))
        {
            throw ApiException.NotFound("Social account");
        }
    }

    private static (DateTimeZone Zone, List<WeeklySlot> Slots) Parse(QueueRow row)
    {
        var stored = JsonSerializer.Deserialize<List<QueueSlotView>>(row.Slots, JsonOptions) ?? [];
        return QueueSlots.Validate(row.Timezone, stored.Select(s => ((string?, string?)?)(s.Day, s.Time)).ToList());
    }

    private static QueueView ToView(QueueRow row)
        => new(row.SocialAccountId, row.Timezone, JsonSerializer.Deserialize<List<QueueSlotView>>(row.Slots, JsonOptions) ?? [],
            PostStore.Utc(row.UpdatedAt));

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}
