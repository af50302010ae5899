using Dapper;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Webhooks.Endpoints;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>A delivery as the API shows it: where it stands, and every attempt made.</summary>
public sealed record DeliveryView(
    string Id,
    string EndpointId,
    string EventId,
    string EventType,
    string Status,
    int AttemptCount,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset? LastAttemptAt,
    DateTimeOffset CreatedAt,
    IReadOnlyList<AttemptView> Attempts);

/// <summary>One attempt: the response status (null when there was none), how long it took, and what went wrong.</summary>
public sealed record AttemptView(int Attempt, DateTimeOffset AttemptedAt, int? StatusCode, int LatencyMs, string? Error);

public sealed record DeliveryPage(IReadOnlyList<DeliveryView> Data, string? NextCursor, bool HasMore);

/// <summary>The deliveries and attempts kept for a workspace's endpoints: listed, read, and redelivered on request.</summary>
public sealed class DeliveryHistory(NpgsqlDataSource dataSource, TimeProvider clock)
{
    /// <summary>The endpoint's deliveries, newest first, a page at a time.</summary>
    public async Task<DeliveryPage> ListAsync(InternalIdentity caller, string endpointId, DeliveryQuery query, CancellationToken ct)
    {
        EndpointRegistry.RequireScope(caller, EndpointRegistry.ReadScope);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        bool endpointExists = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM endpoints WHERE workspace_id = @WorkspaceId AND id = @EndpointId)",
            new { caller.WorkspaceId, EndpointId = endpointId }, cancellationToken: ct));
        if (!endpointExists)
        {
            throw ApiException.NotFound("Webhook endpoint");
        }

        var rows = (await connection.QueryAsync<DeliveryRow>(new CommandDefinition($"""
            {SelectDeliveries}
            WHERE d.endpoint_id = @EndpointId AND (@Status::text IS NULL OR d.status = @Status::text)
              AND (@AfterId::text IS NULL OR (d.created_at, d.id) < (@AfterCreatedAt::timestamptz, @AfterId::text))
            ORDER BY d.created_at DESC, d.id DESC
            LIMIT @Take
            """,
            new { EndpointId = endpointId, query.Status, AfterCreatedAt = query.After?.CreatedAt, AfterId = query.After?.Id, Take = query.Limit + 1 },
            cancellationToken: ct))).ToList();
        bool hasMore = rows.Count > query.Limit;
        if (hasMore)
        {
            rows.RemoveAt(rows.Count - 1);
        }

        var views = await WithAttemptsAsync(connection, null, rows, ct);
        return new DeliveryPage(views, hasMore ? DeliveryRules.EncodeCursor(new DeliveryCursor(Utc(rows[^1].CreatedAt), rows[^1].Id)) : null, hasMore);
    }

    public async Task<DeliveryView> GetAsync(InternalIdentity caller, string deliveryId, CancellationToken ct)
    {
        EndpointRegistry.RequireScope(caller, EndpointRegistry.ReadScope);
        return await FindAsync(caller.WorkspaceId, deliveryId, ct) ?? throw NotFound();
    }

    internal async Task<DeliveryView?> FindAsync(string workspaceId, string deliveryId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await FindAsync(connection, null, workspaceId, deliveryId, ct);
    }

    private static async Task<DeliveryView?> FindAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string workspaceId, string deliveryId, CancellationToken ct)
    {
        var row = await connection.QuerySingleOrDefaultAsync<DeliveryRow>(new CommandDefinition(
            $"{SelectDeliveries} WHERE d.workspace_id = @WorkspaceId AND d.id = @Id",
            new { WorkspaceId = workspaceId, Id = deliveryId }, tx, cancellationToken: ct));
        return row is null ? null : (await WithAttemptsAsync(connection, tx, [row], ct))[0];
    }

    /// <summary>
    /// Sends the delivery again, now, with a fresh retry schedule and the same <c>webhook-id</c>; its attempts so far
    /// are kept. Refused while an attempt is in flight or when the endpoint is disabled.
    /// </summary>
    public async Task<DeliveryView> RedeliverAsync(InternalIdentity caller, string deliveryId, CancellationToken ct)
    {
        EndpointRegistry.RequireScope(caller, EndpointRegistry.WriteScope);
        var now = clock.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var state = await connection.QuerySingleOrDefaultAsync<RedeliveryState>(new CommandDefinition("""
            SELECT d.lease_id IS NOT NULL AND d.next_attempt_at > @Now AS in_flight, ep.enabled AS endpoint_enabled
            FROM deliveries d JOIN endpoints ep ON ep.id = d.endpoint_id
            WHERE d.workspace_id = @WorkspaceId AND d.id = @Id
            FOR UPDATE OF d
            """, new { caller.WorkspaceId, Id = deliveryId, Now = now }, tx, cancellationToken: ct)) ?? throw NotFound();
        if (state.InFlight)
        {
            throw ApiException.Conflict("An attempt of this delivery is under way; redeliver it once it has finished.");
        }

        if (!state.EndpointEnabled)
        {
            throw ApiException.Conflict("The endpoint is disabled; enable it before redelivering.");
        }

        await connection.ExecuteAsync(new CommandDefinition($"""
            UPDATE deliveries
            SET status = '{DeliveryStatus.Pending}', next_attempt_at = @Now, lease_id = NULL, round_attempts = 0, updated_at = @Now
            WHERE id = @Id;
            SELECT pg_notify('{DeliveryNotifications.ChannelName}', '');
            """, new { Id = deliveryId, Now = now }, tx, cancellationToken: ct));
        // As it stands once accepted; read before the commit wakes a sender that may send it at once.
        var view = await FindAsync(connection, tx, caller.WorkspaceId, deliveryId, ct) ?? throw NotFound();
        await tx.CommitAsync(ct);
        return view;
    }

    private static ApiException NotFound() => ApiException.NotFound("Webhook delivery");

    private static async Task<IReadOnlyList<DeliveryView>> WithAttemptsAsync(
        NpgsqlConnection connection, NpgsqlTransaction? tx, IReadOnlyList<DeliveryRow> rows, CancellationToken ct)
    {
        if (rows.Count == 0)
        {
            return [];
        }

        var attempts = (await connection.QueryAsync<AttemptRow>(new CommandDefinition("""
            SELECT delivery_id, attempt, attempted_at, status_code, latency_ms, error
            FROM delivery_attempts WHERE delivery_id = ANY (@Ids) ORDER BY id
            """, new { Ids = rows.Select(r => r.Id).ToArray() }, tx, cancellationToken: ct)))
            .ToLookup(a => a.DeliveryId, a => new AttemptView(a.Attempt, Utc(a.AttemptedAt), a.StatusCode, a.LatencyMs, a.Error));
        return [.. rows.Select(r => new DeliveryView(
            r.Id, r.EndpointId, r.EventId, r.EventType, r.Status, r.AttemptCount,
            r.Status == DeliveryStatus.Pending && !r.InFlight && r.NextAttemptAt is { } next ? Utc(next) : null,
            r.LastAttemptAt is { } last ? Utc(last) : null, Utc(r.CreatedAt), [.. attempts[r.Id]]))];
    }

    private static DateTimeOffset Utc(DateTime value) => new(value, TimeSpan.Zero);

    // In flight: claimed under a lease that has not run out (a crashed sender's expired lease is due again).
    private const string SelectDeliveries = """
        SELECT d.id, d.endpoint_id, d.event_id, ev.type AS event_type, d.status, d.attempt_count, d.next_attempt_at,
               d.lease_id IS NOT NULL AND d.next_attempt_at > now() AS in_flight, d.last_attempt_at, d.created_at
        FROM deliveries d JOIN events ev ON ev.id = d.event_id
        """;

    private sealed record DeliveryRow(
        string Id, string EndpointId, string EventId, string EventType, string Status, int AttemptCount,
        DateTime? NextAttemptAt, bool InFlight, DateTime? LastAttemptAt, DateTime CreatedAt);

    private sealed record RedeliveryState(bool InFlight, bool EndpointEnabled);

    private sealed record AttemptRow(string DeliveryId, int Attempt, DateTime AttemptedAt, int? StatusCode, int LatencyMs, string? Error);
}
