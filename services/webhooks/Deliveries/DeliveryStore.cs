using Dapper;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.ServiceDefaults;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>A delivery claimed by this sender, with what it needs to make the attempt.</summary>
public sealed record ClaimedDelivery(
    string Id, Guid LeaseId, string EventId, int AttemptCount, string Body,
    string EndpointId, string Url, string Secret, bool EndpointEnabled);

public sealed record DeliveryAttempt(int Number, DateTimeOffset AttemptedAt, int? StatusCode, int LatencyMs, string? Error);

/// <summary>The events, deliveries and attempts tables.</summary>
public sealed class DeliveryStore(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// Stores the event and one pending delivery per enabled endpoint of its workspace subscribed to its type,
    /// in one transaction, and wakes the senders. Returns the number of deliveries, or null when the event was
    /// already recorded (its fan-out committed with it).
    /// </summary>
    public async Task<int?> RecordEventAsync(PostEvent e, string body, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        int inserted = await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO events (id, workspace_id, type, post_id, schedule_version, occurred_at, body, received_at)
            VALUES (@EventId, @WorkspaceId, @Type, @PostId, @ScheduleVersion, @OccurredAt, @Body, @Now)
            ON CONFLICT (id) DO NOTHING
            """,
            new { e.EventId, e.WorkspaceId, e.Type, e.PostId, e.ScheduleVersion, OccurredAt = e.OccurredAt.ToUniversalTime(), Body = body, Now = now },
            tx, cancellationToken: ct));
        if (inserted == 0)
        {
            return null;
        }

        string[] endpointIds = [.. await connection.QueryAsync<string>(new CommandDefinition("""
            SELECT id FROM endpoints
            WHERE workspace_id = @WorkspaceId AND enabled AND (@Type = ANY (events) OR '*' = ANY (events))
            ORDER BY id
            """, new { e.WorkspaceId, e.Type }, tx, cancellationToken: ct))];
        if (endpointIds.Length > 0)
        {
            string[] deliveryIds = [.. endpointIds.Select(_ => Ids.New("dlv"))];
            await connection.ExecuteAsync(new CommandDefinition($"""
                INSERT INTO deliveries (id, event_id, endpoint_id, workspace_id, status, next_attempt_at, created_at, updated_at)
                SELECT d.id, @EventId, d.endpoint_id, @WorkspaceId, 'pending', @Now, @Now, @Now
                FROM unnest(@DeliveryIds::text[], @EndpointIds::text[]) AS d (id, endpoint_id)
                ON CONFLICT (event_id, endpoint_id) DO NOTHING;
                SELECT pg_notify('{DeliveryNotifications.ChannelName}', '');
                """,
                new { e.EventId, e.WorkspaceId, DeliveryIds = deliveryIds, EndpointIds = endpointIds, Now = now },
                tx, cancellationToken: ct));
        }

        await tx.CommitAsync(ct);
        return endpointIds.Length;
    }

    /// <summary>
    /// Claims up to <paramref name="limit"/> due deliveries for this sender. They stay pending, leased until
    /// <paramref name="leaseUntil"/>: if this sender dies, they fall due again then and another one takes them.
    /// </summary>
    public async Task<IReadOnlyList<ClaimedDelivery>> ClaimAsync(int limit, DateTimeOffset now, DateTimeOffset leaseUntil, CancellationToken ct)
    {
        var leaseId = Guid.NewGuid();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<ClaimedRow>(new CommandDefinition("""
            WITH due AS (
                SELECT id FROM deliveries
                WHERE status = 'pending' AND next_attempt_at <= @Now
                ORDER BY next_attempt_at
                LIMIT @Limit
                FOR UPDATE SKIP LOCKED)
            UPDATE deliveries d
            SET lease_id = @LeaseId, next_attempt_at = @LeaseUntil, updated_at = @Now
            FROM due, events ev, endpoints ep
            WHERE d.id = due.id AND ev.id = d.event_id AND ep.id = d.endpoint_id
            RETURNING d.id AS Id, d.event_id AS EventId, d.attempt_count AS AttemptCount, ev.body AS Body,
                      ep.id AS EndpointId, ep.url AS Url, ep.secret AS Secret, ep.enabled AS EndpointEnabled
            """, new { Now = now, Limit = limit, LeaseId = leaseId, LeaseUntil = leaseUntil }, cancellationToken: ct));
        return [.. rows.Select(r => new ClaimedDelivery(r.Id, leaseId, r.EventId, r.AttemptCount, r.Body, r.EndpointId, r.Url, r.Secret, r.EndpointEnabled))];
    }

    /// <summary>When the next pending delivery falls due (a claimed one: when its lease runs out), if any.</summary>
    public async Task<DateTimeOffset?> NextDueAsync(CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var next = await connection.ExecuteScalarAsync<DateTime?>(new CommandDefinition(
            "SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'", cancellationToken: ct));
        return next is { } value ? new DateTimeOffset(value, TimeSpan.Zero) : null;
    }

    /// <summary>
    /// Keeps the attempt and applies <paramref name="decision"/>. The attempt is kept in any case; the delivery
    /// changes only while this sender still holds its lease (false otherwise: another sender has taken it over).
    /// </summary>
    public async Task<bool> RecordAttemptAsync(ClaimedDelivery delivery, DeliveryAttempt attempt, DeliveryDecision decision, DateTimeOffset now)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync("""
            INSERT INTO delivery_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms, error)
            VALUES (@Id, @Number, @AttemptedAt, @StatusCode, @LatencyMs, @Error)
            """, new { delivery.Id, attempt.Number, attempt.AttemptedAt, attempt.StatusCode, attempt.LatencyMs, attempt.Error }, tx);
        int updated = await connection.ExecuteAsync("""
            UPDATE deliveries
            SET status = @Status, next_attempt_at = @NextAttemptAt, lease_id = NULL, attempt_count = attempt_count + 1,
                last_attempt_at = @AttemptedAt, last_status_code = @StatusCode, last_error = @Error, updated_at = @Now
            WHERE id = @Id AND lease_id = @LeaseId
            """, new
            {
                delivery.Id, delivery.LeaseId, decision.Status, decision.NextAttemptAt,
                attempt.AttemptedAt, attempt.StatusCode, attempt.Error, Now = now,
            }, tx);
        if (decision.DisableEndpoint)
        {
            await connection.ExecuteAsync("""
                UPDATE endpoints SET enabled = false, disabled_reason = @Reason, updated_at = @Now WHERE id = @EndpointId
                """, new { delivery.EndpointId, Reason = "The endpoint answered 410 Gone.", Now = now }, tx);
        }

        await tx.CommitAsync();
        return updated == 1;
    }

    /// <summary>Fails a claimed delivery without an attempt: its endpoint was disabled after the delivery was created.</summary>
    public async Task AbandonAsync(ClaimedDelivery delivery, string reason, DateTimeOffset now)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("""
            UPDATE deliveries
            SET status = 'failed', next_attempt_at = NULL, lease_id = NULL, last_error = @Reason, updated_at = @Now
            WHERE id = @Id AND lease_id = @LeaseId
            """, new { delivery.Id, delivery.LeaseId, Reason = reason, Now = now });
    }

    private sealed record ClaimedRow(string Id, string EventId, int AttemptCount, string Body, string EndpointId, string Url, string Secret, bool EndpointEnabled);
}
