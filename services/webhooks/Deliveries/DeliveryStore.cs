using Dapper;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.Webhooks.Endpoints;
using ScheduledPosts.Webhooks.Signing;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>A delivery claimed by this sender, with what it needs to make the attempt. Its secrets are as stored (encrypted when a key is configured).</summary>
public sealed record ClaimedDelivery(
    string Id, Guid LeaseId, string EventId, int AttemptCount, int RoundAttempts, string Body,
    string EndpointId, string Url, EndpointSecrets StoredSecrets, bool EndpointEnabled)
{
    public override string ToString() => $"Delivery {Id} of {EventId} to {EndpointId}";
}

public sealed record DeliveryAttempt(int Number, DateTimeOffset AttemptedAt, int? StatusCode, int LatencyMs, string? Error)
{
    public bool Succeeded => StatusCode is >= 200 and < 300;
}

/// <summary>What recording an attempt found: whether this sender still held the delivery, and since when its endpoint has failed every attempt (null: the last one succeeded).</summary>
public sealed record RecordedAttempt(bool Held, DateTimeOffset? EndpointFailingSince);

/// <summary>The sender's side of the events, deliveries and attempts tables.</summary>
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
    /// Stores a <c>webhook.test</c> event with one delivery, to the given endpoint only, whatever it subscribes to.
    /// Returns the delivery's id, or null when the workspace has no such enabled endpoint.
    /// </summary>
    public async Task<string?> RecordTestEventAsync(string workspaceId, string endpointId, string eventId, string body, DateTimeOffset now, CancellationToken ct)
    {
        string deliveryId = Ids.New("dlv");
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO events (id, workspace_id, type, occurred_at, body, received_at)
            VALUES (@EventId, @WorkspaceId, @Type, @Now, @Body, @Now)
            """, new { EventId = eventId, WorkspaceId = workspaceId, Type = EventTypes.Test, Body = body, Now = now }, tx, cancellationToken: ct));
        int inserted = await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO deliveries (id, event_id, endpoint_id, workspace_id, status, next_attempt_at, created_at, updated_at)
            SELECT @DeliveryId, @EventId, id, workspace_id, 'pending', @Now, @Now, @Now
            FROM endpoints WHERE id = @EndpointId AND workspace_id = @WorkspaceId AND enabled
            """, new { DeliveryId = deliveryId, EventId = eventId, EndpointId = endpointId, WorkspaceId = workspaceId, Now = now }, tx, cancellationToken: ct));
        if (inserted == 0)
        {
            await tx.RollbackAsync(ct);
            return null;
        }

        await connection.ExecuteAsync(new CommandDefinition($"SELECT pg_notify('{DeliveryNotifications.ChannelName}', '')", transaction: tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return deliveryId;
    }

    /// <summary>
    /// Claims up to <paramref name="limit"/> due deliveries for this sender, at most <paramref name="perEndpoint"/> in
    /// flight per endpoint (counting those other senders hold). They stay pending, leased until
    /// <paramref name="leaseUntil"/>: if this sender dies, they fall due again then and another one takes them.
    /// </summary>
    public async Task<IReadOnlyList<ClaimedDelivery>> ClaimAsync(int limit, int perEndpoint, DateTimeOffset now, DateTimeOffset leaseUntil, CancellationToken ct)
    {
        var leaseId = Guid.NewGuid();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        // Claims take turns across replicas (each is one short statement), so the in-flight counts they see are exact.
        await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtext('webhooks.deliveries.claim'))", transaction: tx, cancellationToken: ct));
        var rows = await connection.QueryAsync<ClaimedRow>(new CommandDefinition("""
            WITH busy AS (
                SELECT endpoint_id, count(*) AS n FROM deliveries
                WHERE status = 'pending' AND lease_id IS NOT NULL AND next_attempt_at > @Now
                GROUP BY endpoint_id),
            ranked AS (
                SELECT d.id, d.next_attempt_at,
                       coalesce(b.n, 0) + row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS slot
                FROM deliveries d LEFT JOIN busy b ON b.endpoint_id = d.endpoint_id
                WHERE d.status = 'pending' AND d.next_attempt_at <= @Now),
            due AS (
                SELECT d.id FROM deliveries d JOIN ranked r ON r.id = d.id
                WHERE r.slot <= @PerEndpoint AND d.status = 'pending' AND d.next_attempt_at <= @Now
                ORDER BY r.next_attempt_at, d.id
                LIMIT @Limit
                FOR UPDATE OF d SKIP LOCKED)
            UPDATE deliveries d
            SET lease_id = @LeaseId, next_attempt_at = @LeaseUntil, updated_at = @Now
            FROM due, events ev, endpoints ep
            WHERE d.id = due.id AND ev.id = d.event_id AND ep.id = d.endpoint_id
            RETURNING d.id AS Id, d.event_id AS EventId, d.attempt_count AS AttemptCount, d.round_attempts AS RoundAttempts, ev.body AS Body,
                      ep.id AS EndpointId, ep.url AS Url, ep.secret AS Secret, ep.previous_secret AS PreviousSecret,
                      ep.previous_secret_expires_at AS PreviousSecretExpiresAt, ep.enabled AS EndpointEnabled
            """, new { Now = now, Limit = limit, PerEndpoint = perEndpoint, LeaseId = leaseId, LeaseUntil = leaseUntil }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return [.. rows.Select(r => new ClaimedDelivery(
            r.Id, leaseId, r.EventId, r.AttemptCount, r.RoundAttempts, r.Body, r.EndpointId, r.Url,
            new EndpointSecrets(r.Secret, r.PreviousSecret, r.PreviousSecretExpiresAt is { } expires ? new DateTimeOffset(expires, TimeSpan.Zero) : null),
            r.EndpointEnabled))];
    }

    /// <summary>
    /// When the next pending delivery falls due (a claimed one: when its lease runs out), and whether some are due
    /// already but were not claimed (their endpoint is at its cap, or another sender is recording them).
    /// </summary>
    public async Task<(DateTimeOffset? Next, bool DueUnclaimed)> NextDueAsync(DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleAsync<(DateTime? Next, bool DueUnclaimed)>(new CommandDefinition("""
            SELECT min(next_attempt_at) FILTER (WHERE next_attempt_at > @Now), coalesce(bool_or(next_attempt_at <= @Now), false)
            FROM deliveries WHERE status = 'pending'
            """, new { Now = now }, cancellationToken: ct));
        return (row.Next is { } next ? new DateTimeOffset(next, TimeSpan.Zero) : null, row.DueUnclaimed);
    }

    /// <summary>
    /// Keeps the attempt, applies <paramref name="decision"/>, and tracks the endpoint's health. The attempt is kept
    /// in any case (unless the endpoint was deleted meanwhile); the delivery changes only while this sender still
    /// holds its lease.
    /// </summary>
    public async Task<RecordedAttempt> RecordAttemptAsync(ClaimedDelivery delivery, DeliveryAttempt attempt, DeliveryDecision decision, DateTimeOffset now)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync("""
            INSERT INTO delivery_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms, error)
            SELECT @Id, @Number, @AttemptedAt, @StatusCode, @LatencyMs, @Error
            WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = @Id)
            """, new { delivery.Id, attempt.Number, attempt.AttemptedAt, attempt.StatusCode, attempt.LatencyMs, attempt.Error }, tx);
        int updated = await connection.ExecuteAsync("""
            UPDATE deliveries
            SET status = @Status, next_attempt_at = @NextAttemptAt, lease_id = NULL,
                attempt_count = attempt_count + 1, round_attempts = round_attempts + 1,
                last_attempt_at = @AttemptedAt, last_status_code = @StatusCode, last_error = @Error, updated_at = @Now
            WHERE id = @Id AND lease_id = @LeaseId
            """, new
            {
                delivery.Id, delivery.LeaseId, decision.Status, decision.NextAttemptAt,
                attempt.AttemptedAt, attempt.StatusCode, attempt.Error, Now = now,
            }, tx);
        var failingSince = await connection.QuerySingleOrDefaultAsync<DateTime?>("""
            UPDATE endpoints
            SET failing_since = CASE WHEN @Succeeded THEN NULL ELSE coalesce(failing_since, @AttemptedAt) END
            WHERE id = @EndpointId
            RETURNING failing_since
            """, new { delivery.EndpointId, attempt.Succeeded, attempt.AttemptedAt }, tx);
        await tx.CommitAsync();
        return new RecordedAttempt(updated == 1, failingSince is { } since ? new DateTimeOffset(since, TimeSpan.Zero) : null);
    }

    /// <summary>Switches an endpoint off; its pending deliveries fail when next claimed. False when it was off already.</summary>
    public async Task<bool> DisableEndpointAsync(string endpointId, string reason, DateTimeOffset now)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.ExecuteAsync("""
            UPDATE endpoints SET enabled = false, disabled_reason = @Reason, updated_at = @Now WHERE id = @EndpointId AND enabled
            """, new { EndpointId = endpointId, Reason = reason, Now = now }) == 1;
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

    private sealed record ClaimedRow(
        string Id, string EventId, int AttemptCount, int RoundAttempts, string Body, string EndpointId, string Url,
        string Secret, string? PreviousSecret, DateTime? PreviousSecretExpiresAt, bool EndpointEnabled);
}
