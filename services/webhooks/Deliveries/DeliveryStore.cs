using Dapper;
using Npgsql;
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

/// <summary>
/// What recording an attempt found: whether this sender still held the delivery, since when its endpoint has failed
/// every attempt (null: the last one succeeded), and the endpoint's next delivery if the slot was handed over to it.
/// </summary>
public sealed record RecordedAttempt(bool Held, DateTimeOffset? EndpointFailingSince, ClaimedDelivery? HandedOver);

/// <summary>
/// What a claim took, when the next pending delivery falls due after it (null: none pending), and whether some due
/// ones were left (their endpoint or workspace at its cap, perhaps on another replica).
/// </summary>
public sealed record Claim(IReadOnlyList<ClaimedDelivery> Deliveries, DateTimeOffset? NextDue, bool DueUnclaimed);

/// <summary>How many attempts each endpoint may have in flight: these endpoints' own limits, <paramref name="Otherwise"/> for every other one.</summary>
public sealed record EndpointLimits(int Otherwise, string[] EndpointIds, int[] Limits);

/// <summary>What recording one event came to: refused (why), or recorded with its deliveries (null: it was already recorded).</summary>
public sealed record RecordedEvent(string? Refusal, int? Deliveries);

/// <summary>The sender's side of the events, deliveries and attempts tables.</summary>
public sealed class DeliveryStore(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// Stores the events and one pending delivery per enabled endpoint of each one's workspace subscribed to its type,
    /// all in one statement (its own transaction), and wakes the senders. Answers each event in order: refused (it puts
    /// a post or an account seen before, or earlier in the batch, in another workspace), already recorded (its fan-out
    /// committed with it), or recorded with its deliveries.
    /// </summary>
    public async Task<IReadOnlyList<RecordedEvent>> RecordEventsAsync(IReadOnlyList<(IncomingEvent Event, string Body)> events, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        // A post or an account lives in one workspace: an event that moves one seen before to another is forged (or a bug).
        // Every recorded event of a subject names the same workspace (no other is recorded), so one of them tells it:
        // one index probe per subject, however many events an account has had.
        var seen = (await connection.QueryAsync<(string Subject, string WorkspaceId)>(new CommandDefinition("""
            SELECT s.id, e.workspace_id FROM unnest(@PostIds::text[]) AS s (id)
            CROSS JOIN LATERAL (SELECT workspace_id FROM events WHERE post_id = s.id LIMIT 1) AS e
            UNION ALL
            SELECT s.id, e.workspace_id FROM unnest(@AccountIds::text[]) AS s (id)
            CROSS JOIN LATERAL (SELECT workspace_id FROM events WHERE account_id = s.id LIMIT 1) AS e
            """,
            new
            {
                PostIds = events.Select(x => x.Event.PostId).OfType<string>().Distinct().ToArray(),
                AccountIds = events.Select(x => x.Event.AccountId).OfType<string>().Distinct().ToArray(),
            },
            cancellationToken: ct)))
            .ToDictionary(s => s.Subject, s => s.WorkspaceId, StringComparer.Ordinal);
        var workspaceOf = new Dictionary<string, string>(StringComparer.Ordinal);
        var answers = new RecordedEvent?[events.Count];
        var accepted = new List<int>();
        var firstOfId = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < events.Count; i++)
        {
            var e = events[i].Event;
            string subject = e.SubjectId;
            if ((seen.TryGetValue(subject, out var owner) && owner != e.WorkspaceId) || (workspaceOf.TryGetValue(subject, out var earlier) && earlier != e.WorkspaceId))
            {
                answers[i] = new RecordedEvent($"{(e.Subject == EventSubject.Post ? "post" : "account")} {subject} belongs to another workspace", null);
            }
            else if (firstOfId.ContainsKey(e.EventId))
            {
                // The same event twice in one batch (a redelivery): the first records it.
                answers[i] = new RecordedEvent(null, null);
            }
            else
            {
                workspaceOf.TryAdd(subject, e.WorkspaceId);
                firstOfId[e.EventId] = i;
                accepted.Add(i);
            }
        }

        if (accepted.Count > 0)
        {
            var fanOut = await FanOutAsync(connection, accepted.Select(i => events[i].Event).ToList(), ct);
            var toRecord = accepted.Select(i => events[i]).ToList();
            var recorded = (await connection.QueryAsync<(string Id, long Deliveries, long Woken)>(new CommandDefinition($"""
                WITH event AS (
                    INSERT INTO events (id, workspace_id, type, post_id, account_id, schedule_version, occurred_at, body, received_at)
                    SELECT e.id, e.workspace_id, e.type, e.post_id, e.account_id, e.schedule_version, e.occurred_at, e.body, @Now
                    FROM unnest(@Ids::text[], @Workspaces::text[], @Types::text[], @PostIds::text[], @AccountIds::text[],
                                @Versions::bigint[], @OccurredAts::timestamptz[], @Bodies::text[])
                         AS e (id, workspace_id, type, post_id, account_id, schedule_version, occurred_at, body)
                    ON CONFLICT (id) DO NOTHING
                    RETURNING id),
                delivery AS (
                    INSERT INTO deliveries (id, event_id, endpoint_id, workspace_id, status, next_attempt_at, created_at, updated_at)
                    SELECT d.id, d.event_id, d.endpoint_id, d.workspace_id, '{DeliveryStatus.Pending}', @Now, @Now, @Now
                    FROM unnest(@DeliveryIds::text[], @DeliveryEvents::text[], @DeliveryEndpoints::text[], @DeliveryWorkspaces::text[])
                         AS d (id, event_id, endpoint_id, workspace_id)
                    JOIN event ON event.id = d.event_id
                    ON CONFLICT (event_id, endpoint_id) DO NOTHING
                    RETURNING event_id),
                woken AS (
                    SELECT pg_notify('{DeliveryNotifications.ChannelName}', '') FROM (SELECT 1 FROM delivery LIMIT 1) AS any_delivery)
                SELECT event.id, (SELECT count(*) FROM delivery WHERE delivery.event_id = event.id), (SELECT count(*) FROM woken)
                FROM event
                """,
                new
                {
                    Now = now,
                    Ids = toRecord.Select(x => x.Event.EventId).ToArray(),
                    Workspaces = toRecord.Select(x => x.Event.WorkspaceId).ToArray(),
                    Types = toRecord.Select(x => x.Event.Type).ToArray(),
                    PostIds = toRecord.Select(x => x.Event.PostId).ToArray(),
                    AccountIds = toRecord.Select(x => x.Event.AccountId).ToArray(),
                    Versions = toRecord.Select(x => x.Event.ScheduleVersion).ToArray(),
                    OccurredAts = toRecord.Select(x => x.Event.OccurredAt.UtcDateTime).ToArray(),
                    Bodies = toRecord.Select(x => x.Body).ToArray(),
                    DeliveryIds = fanOut.Select(_ => Ids.New("dlv")).ToArray(),
                    DeliveryEvents = fanOut.Select(d => d.EventId).ToArray(),
                    DeliveryEndpoints = fanOut.Select(d => d.EndpointId).ToArray(),
                    DeliveryWorkspaces = fanOut.Select(d => d.WorkspaceId).ToArray(),
                },
                cancellationToken: ct)))
                .ToDictionary(r => r.Id, r => (int)r.Deliveries, StringComparer.Ordinal);
            foreach (int i in accepted)
            {
                answers[i] = new RecordedEvent(null, recorded.TryGetValue(events[i].Event.EventId, out int deliveries) ? deliveries : null);
            }
        }

        return answers!;
    }

    /// <summary>One delivery per enabled endpoint of each event's workspace subscribed to its type.</summary>
    private static async Task<List<(string EventId, string EndpointId, string WorkspaceId)>> FanOutAsync(
        NpgsqlConnection connection, List<IncomingEvent> events, CancellationToken ct)
    {
        var endpoints = (await connection.QueryAsync<(string Id, string WorkspaceId, string[] Events)>(new CommandDefinition("""
            SELECT id, workspace_id, events FROM endpoints
            WHERE workspace_id = ANY(@Workspaces) AND enabled
            ORDER BY id
            """, new { Workspaces = events.Select(e => e.WorkspaceId).Distinct().ToArray() }, cancellationToken: ct)))
            .ToLookup(e => e.WorkspaceId);
        return [.. events.SelectMany(e => endpoints[e.WorkspaceId]
            .Where(endpoint => endpoint.Events.Contains(e.Type) || endpoint.Events.Contains("*"))
            .Select(endpoint => (e.EventId, endpoint.Id, e.WorkspaceId)))];
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
        int inserted = await connection.ExecuteAsync(new CommandDefinition($"""
            INSERT INTO deliveries (id, event_id, endpoint_id, workspace_id, status, next_attempt_at, created_at, updated_at)
            SELECT @DeliveryId, @EventId, id, workspace_id, '{DeliveryStatus.Pending}', @Now, @Now, @Now
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
    /// Claims up to <paramref name="limit"/> due deliveries for this sender, no more in flight per endpoint than
    /// <paramref name="perEndpoint"/> allows it and <paramref name="perWorkspace"/> per workspace (counting those other senders hold): each
    /// workspace's oldest due first, then each one's second, and so on, so one workspace's backlog does not crowd out
    /// the others. They stay pending, leased until <paramref name="leaseUntil"/>: if this sender dies, they fall due
    /// again then and another one takes them. Also says when the next pending delivery falls due (a claimed one: when
    /// its lease runs out), and whether some are due already but were left (their endpoint or workspace at its cap,
    /// locked by another transaction, or beyond the limit).
    /// </summary>
    public async Task<Claim> ClaimAsync(int limit, EndpointLimits perEndpoint, int perWorkspace, DateTimeOffset now, DateTimeOffset leaseUntil, CancellationToken ct)
    {
        var leaseId = Guid.NewGuid();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        // One round trip: the statements of a batch run in one implicit transaction, which holds the advisory lock to
        // its end. Claims take turns across replicas (each is one short batch), so the in-flight counts they see are exact.
        // The claim walks the endpoints with pending deliveries (a loose index scan) and takes each one's oldest due
        // deliveries up to its free slots and its workspace's: index probes per endpoint, whatever the backlog. Ranking
        // them within their workspace then keeps each workspace to its free slots, and serves the workspaces in turns.
        using var results = await connection.QueryMultipleAsync(new CommandDefinition($"""
            SELECT 1 FROM pg_advisory_xact_lock(hashtext('webhooks.deliveries.claim'));

            WITH RECURSIVE waiting AS (
                SELECT min(endpoint_id) AS endpoint_id FROM deliveries WHERE status = '{DeliveryStatus.Pending}'
                UNION ALL
                SELECT (SELECT min(d.endpoint_id) FROM deliveries d WHERE d.status = '{DeliveryStatus.Pending}' AND d.endpoint_id > w.endpoint_id)
                FROM waiting w WHERE w.endpoint_id IS NOT NULL),
            candidates AS (
                SELECT c.id, c.next_attempt_at, ep.workspace_id, @PerWorkspace - workspace_busy.n AS workspace_free
                FROM waiting w
                JOIN endpoints ep ON ep.id = w.endpoint_id
                LEFT JOIN unnest(@LearnedIds::text[], @LearnedLimits::int[]) AS learned (endpoint_id, max_in_flight) ON learned.endpoint_id = w.endpoint_id
                CROSS JOIN LATERAL (
                    SELECT count(*) AS n FROM deliveries b
                    WHERE b.endpoint_id = w.endpoint_id AND b.status = '{DeliveryStatus.Pending}' AND b.lease_id IS NOT NULL AND b.next_attempt_at > @Now) endpoint_busy
                CROSS JOIN LATERAL (
                    SELECT count(*) AS n FROM deliveries b
                    WHERE b.workspace_id = ep.workspace_id AND b.status = '{DeliveryStatus.Pending}' AND b.lease_id IS NOT NULL AND b.next_attempt_at > @Now) workspace_busy
                CROSS JOIN LATERAL (
                    SELECT d.id, d.next_attempt_at FROM deliveries d
                    WHERE d.endpoint_id = w.endpoint_id AND d.status = '{DeliveryStatus.Pending}' AND d.next_attempt_at <= @Now
                    ORDER BY d.next_attempt_at, d.id
                    LIMIT greatest(least(coalesce(learned.max_in_flight, @PerEndpoint) - endpoint_busy.n, @PerWorkspace - workspace_busy.n), 0)
                    FOR UPDATE OF d SKIP LOCKED) c),
            due AS (
                SELECT id FROM (
                    SELECT id, next_attempt_at, workspace_free,
                           row_number() OVER (PARTITION BY workspace_id ORDER BY next_attempt_at, id) AS turn
                    FROM candidates) ranked
                WHERE turn <= workspace_free
                ORDER BY turn, next_attempt_at, id
                LIMIT @Limit)
            UPDATE deliveries d
            SET lease_id = @LeaseId, next_attempt_at = @LeaseUntil, updated_at = @Now
            FROM events ev, endpoints ep
            WHERE d.id = ANY (ARRAY (SELECT id FROM due)) AND ev.id = d.event_id AND ep.id = d.endpoint_id
            RETURNING d.id, d.event_id, d.attempt_count, d.round_attempts, ev.body, ep.id AS endpoint_id, ep.url, ep.secret,
                      ep.previous_secret, ep.previous_secret_expires_at, ep.enabled AS endpoint_enabled;

            -- Two index probes whatever the plan (min() reads deliveries_due from its end). Whatever left a due delivery
            -- unclaimed (a cap, a lock, the limit), it is still pending and due here.
            SELECT (SELECT min(next_attempt_at) FROM deliveries WHERE status = '{DeliveryStatus.Pending}' AND next_attempt_at > @Now) AS next,
                   coalesce((SELECT min(next_attempt_at) FROM deliveries WHERE status = '{DeliveryStatus.Pending}') <= @Now, false) AS due_unclaimed;
            """, new
            {
                Now = now, Limit = limit, PerEndpoint = perEndpoint.Otherwise, LearnedIds = perEndpoint.EndpointIds, LearnedLimits = perEndpoint.Limits,
                PerWorkspace = perWorkspace, LeaseId = leaseId, LeaseUntil = leaseUntil,
            },
            cancellationToken: ct));
        await results.ReadSingleAsync<int>();
        var rows = await results.ReadAsync<ClaimedRow>();
        var (next, dueUnclaimed) = await results.ReadSingleAsync<(DateTime? Next, bool DueUnclaimed)>();
        return new Claim([.. rows.Select(r => r.ToClaimed(leaseId))], next is { } at ? new DateTimeOffset(at, TimeSpan.Zero) : null, dueUnclaimed);
    }

    /// <summary>
    /// Keeps the attempt, applies <paramref name="decision"/>, and tracks the endpoint's health. The attempt is kept
    /// in any case (unless the endpoint was deleted meanwhile); the delivery changes only while this sender still
    /// holds its lease. With <paramref name="handOverUntil"/>, the freed slot goes straight to the endpoint's next due
    /// delivery, leased until then, if no other endpoint's pending delivery is older (a claim would take that one
    /// first): the endpoint's in-flight count, and so its workspace's, stays the same, so no claim turn is needed,
    /// and nothing older waits. (Compared with other endpoints' only: the endpoint's own older ones are the ones its
    /// other attempts are handing over to at the same moment, locked.)
    /// </summary>
    public async Task<RecordedAttempt> RecordAttemptAsync(
        ClaimedDelivery delivery, DeliveryAttempt attempt, DeliveryDecision decision, DateTimeOffset now, DateTimeOffset? handOverUntil)
    {
        Guid? nextLeaseId = handOverUntil is null ? null : Guid.NewGuid();
        await using var connection = await dataSource.OpenConnectionAsync();
        // One round trip (a batch is one implicit transaction). The endpoint row is written only when its health changes
        // (the first failure after a success, the first success after failures), so concurrent attempts to a healthy
        // endpoint neither queue on its row lock nor churn it.
        using var results = await connection.QueryMultipleAsync($"""
            WITH attempt AS (
                INSERT INTO delivery_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms, error)
                SELECT @Id, @Number, @AttemptedAt, @StatusCode, @LatencyMs, @Error
                WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = @Id)),
            delivery AS (
                UPDATE deliveries
                SET status = @Status, next_attempt_at = @NextAttemptAt, lease_id = NULL,
                    attempt_count = attempt_count + 1, round_attempts = round_attempts + 1,
                    last_attempt_at = @AttemptedAt, last_status_code = @StatusCode, last_error = @Error, updated_at = @Now
                WHERE id = @Id AND lease_id = @LeaseId
                RETURNING 1),
            health AS (
                UPDATE endpoints
                SET failing_since = CASE WHEN @Succeeded THEN NULL ELSE @AttemptedAt END
                WHERE id = @EndpointId AND (failing_since IS NULL) <> @Succeeded
                RETURNING failing_since),
            next AS (
                SELECT d.id FROM deliveries d
                WHERE @NextLeaseId IS NOT NULL AND EXISTS (SELECT 1 FROM delivery)
                  AND d.endpoint_id = @EndpointId AND d.status = '{DeliveryStatus.Pending}' AND d.next_attempt_at <= @Now
                  AND NOT EXISTS (
                      SELECT 1 FROM deliveries o
                      WHERE o.status = '{DeliveryStatus.Pending}' AND o.next_attempt_at < d.next_attempt_at AND o.endpoint_id <> @EndpointId)
                ORDER BY d.next_attempt_at, d.id
                LIMIT 1
                FOR UPDATE SKIP LOCKED),
            handed_over AS (
                UPDATE deliveries d SET lease_id = @NextLeaseId, next_attempt_at = @HandOverUntil, updated_at = @Now
                FROM next WHERE d.id = next.id)
            SELECT EXISTS (SELECT 1 FROM delivery) AS held,
                   CASE WHEN @Succeeded THEN NULL
                        ELSE coalesce((SELECT failing_since FROM health), (SELECT failing_since FROM endpoints WHERE id = @EndpointId)) END AS failing_since;

            SELECT d.id, d.event_id, d.attempt_count, d.round_attempts, ev.body, ep.id AS endpoint_id, ep.url, ep.secret,
                   ep.previous_secret, ep.previous_secret_expires_at, ep.enabled AS endpoint_enabled
            FROM deliveries d JOIN events ev ON ev.id = d.event_id JOIN endpoints ep ON ep.id = d.endpoint_id
            WHERE d.endpoint_id = @EndpointId AND d.status = '{DeliveryStatus.Pending}' AND d.lease_id = @NextLeaseId;
            """, new
            {
                delivery.Id, delivery.LeaseId, delivery.EndpointId, decision.Status, decision.NextAttemptAt,
                attempt.Number, attempt.AttemptedAt, attempt.StatusCode, attempt.LatencyMs, attempt.Error, attempt.Succeeded, Now = now,
                NextLeaseId = nextLeaseId, HandOverUntil = handOverUntil,
            });
        var row = await results.ReadSingleAsync<(bool Held, DateTime? FailingSince)>();
        var next = await results.ReadSingleOrDefaultAsync<ClaimedRow>();
        return new RecordedAttempt(row.Held, row.FailingSince is { } since ? new DateTimeOffset(since, TimeSpan.Zero) : null,
            next?.ToClaimed(nextLeaseId!.Value));
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
        await connection.ExecuteAsync($"""
            UPDATE deliveries
            SET status = '{DeliveryStatus.Failed}', next_attempt_at = NULL, lease_id = NULL, last_error = @Reason, updated_at = @Now
            WHERE id = @Id AND lease_id = @LeaseId
            """, new { delivery.Id, delivery.LeaseId, Reason = reason, Now = now });
    }

    private sealed record ClaimedRow(
        string Id, string EventId, int AttemptCount, int RoundAttempts, string Body, string EndpointId, string Url,
        string Secret, string? PreviousSecret, DateTime? PreviousSecretExpiresAt, bool EndpointEnabled)
    {
        public ClaimedDelivery ToClaimed(Guid leaseId) => new(
            Id, leaseId, EventId, AttemptCount, RoundAttempts, Body, EndpointId, Url,
            new EndpointSecrets(Secret, PreviousSecret, PreviousSecretExpiresAt is { } expires ? new DateTimeOffset(expires, TimeSpan.Zero) : null),
            EndpointEnabled);
    }
}
