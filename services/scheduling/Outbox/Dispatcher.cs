using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;
using System.Text.Json;
using Dapper;
using MassTransit;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.Scheduling.Publishing;
using ScheduledPosts.Scheduling.Watch;
using ScheduledPosts.ServiceDefaults.Data;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Outbox;

public sealed class DispatcherOptions
{
    public const string Section = "Dispatcher";

    public int BatchSize { get; set; } = 200;

    /// <summary>The longest sleep without a wake-up; only a safety net, LISTEN/NOTIFY wakes it for sooner work.</summary>
    public TimeSpan MaxIdle { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a batch waits for the broker's confirms before leaving what is unconfirmed for the next pass. Bounds how
    /// long the batch's rows stay locked while the broker is away, and so how long a cancel of one of them waits.
    /// </summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// While another replica holds due messages (it is sending them), how soon to look again, in case it dies before
    /// it marks them sent. Neither a spin on rows it cannot take nor a long sleep.
    /// </summary>
    public TimeSpan HeldRecheck { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How many of one workspace's targets may be in flight at once (sent and not yet picked up by a publisher, or
    /// being published), across all replicas. Its further due targets wait in the database, so the bus queue never
    /// holds a backlog that another workspace's due post would have to wait behind (docs/publishing.md#fair-shares).
    /// Keep it at most the publishers' total <c>Publisher:ConcurrentMessageLimit</c> divided by the number of
    /// workspaces expected to be busy at once.
    /// </summary>
    public int InFlightPerWorkspace { get; set; } = 64;

    /// <summary>
    /// A sent message no publisher picked up within this time (the publishers are down, or the message was lost)
    /// stops counting against its workspace's share, so a lost message cannot hold the workspace back for good.
    /// </summary>
    public TimeSpan InFlightWindow { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>While due targets wait for their workspace's share to free up, how soon to look again.</summary>
    public TimeSpan FairShareRecheck { get; set; } = TimeSpan.FromMilliseconds(200);

    public bool IsValid() => BatchSize > 0 && InFlightPerWorkspace > 0 && InFlightWindow > TimeSpan.Zero
        && MaxIdle > TimeSpan.Zero && PublishTimeout > TimeSpan.Zero && HeldRecheck > TimeSpan.Zero && FairShareRecheck > TimeSpan.Zero;
}

/// <summary>
/// Sends due outbox messages through MassTransit (publisher confirms) and marks them sent. Claims rows
/// with <c>FOR UPDATE SKIP LOCKED</c>, so replicas share the work; holds the row locks until the broker
/// confirmed, so a concurrent cancel either removes a message before it goes or finds it already sent.
/// Due targets go in turns across workspaces, each workspace with at most its share in flight
/// (docs/publishing.md#fair-shares). Sleeps until the next due time, woken early by NOTIFY when a sooner message is written.
/// </summary>
public sealed partial class Dispatcher(
    // Its own pool: a burst of API requests cannot keep a due message waiting for a connection.
    [FromKeyedServices(PublishingOptions.Pool)] NpgsqlDataSource dataSource,
    [FromKeyedServices(PostgresExtensions.Listener)] NpgsqlDataSource listeners,
    IBus bus,
    IOptions<DispatcherOptions> options,
    IMeterFactory meters,
    SchedulingMetrics metrics,
    TimeProvider clock,
    ILogger<Dispatcher> logger) : BackgroundService
{
    public const string MeterName = "ScheduledPosts.Scheduling.Dispatcher";

    private readonly Counter<long> _passes = meters.Create(MeterName)
        .CreateCounter<long>("scheduledposts.dispatcher.passes", "{pass}", "Looks for due outbox messages.");

    private static readonly Dictionary<string, Type> MessageTypes = typeof(TargetDue).Assembly.GetTypes()
        .Where(t => t.Namespace == typeof(TargetDue).Namespace && t is { IsClass: true, IsAbstract: false } && t.GetCustomAttribute<System.Runtime.CompilerServices.CompilerGeneratedAttribute>() is null)
        .ToDictionary(t => t.Name);

    private static readonly ActivitySource Tracing = new("ScheduledPosts.Scheduling.Dispatcher");

    private readonly DispatcherOptions _options = options.Value;

    private sealed record OutboxRow(long Id, string MessageType, string Payload, string? TraceParent, DateTime DueAt);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var listener = await listeners.OpenConnectionAsync(stoppingToken);
                await listener.ExecuteAsync($"LISTEN {OutboxScheduler.WakeChannel}");
                backoff = TimeSpan.FromMilliseconds(200);
                await RunAsync(listener, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The database or broker is away: keep nothing in memory, resume from the table when it is back.
                LogInterrupted(e, backoff);
                await Task.Delay(backoff, stoppingToken);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    private async Task RunAsync(NpgsqlConnection listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var (claimed, sent, choseAt) = await DispatchBatchAsync(ct);
            if (sent < claimed)
            {
                // The broker refused some: don't spin on them, they stay due and are retried shortly.
                await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
                continue;
            }

            if (claimed == _options.BatchSize)
            {
                continue;
            }

            var untilNext = await UntilNextDueAsync(choseAt, ct);
            if (untilNext > TimeSpan.Zero)
            {
                // Returns early on any NOTIFY: a message was written, maybe due sooner than what we waited for.
                // Npgsql reads a 0 ms timeout as "wait forever": round up so a sub-millisecond wait still expires.
                if (await listener.WaitAsync(TimeSpan.FromMilliseconds(Math.Ceiling(untilNext.TotalMilliseconds)), ct))
                {
                    // Every message written sends a NOTIFY: one pass serves all that arrived together, rather than one
                    // (mostly empty) pass each. Bounded, so a steady stream of writes cannot keep the dispatcher here.
                    int drained = 0;
                    while (drained < _options.BatchSize && await listener.WaitAsync(TimeSpan.FromMilliseconds(1), ct))
                    {
                        drained++;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Sends one batch of due messages; returns how many it claimed, how many the broker confirmed, and the instant
    /// (the database's) at which it chose them: what was due then and is still unsent was left for its workspace's share.
    /// </summary>
    private async Task<(int Claimed, int Sent, DateTime ChoseAt)> DispatchBatchAsync(CancellationToken ct)
    {
        _passes.Add(1);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        // A workspace's due targets take turns with every other workspace's (turn 1 of each, then turn 2, ...), and
        // only as many go as its share has room for; messages without a workspace (domain events) are one more queue.
        // Each queue gives only its first turns, by index (no pass ranks every due message: a burst holds thousands back
        // for their share). Chosen first, then locked by id, skipping what another replica holds (it is sending those).
        // statement_timestamp(), not clock_timestamp(): one instant for the whole query, which the indexes can use.
        var (chosen, choseAt) = await connection.QuerySingleAsync<(long[], DateTime)>($"""
            WITH in_flight AS MATERIALIZED (
                SELECT workspace_id, count(*) AS n FROM (
                    SELECT workspace_id FROM outbox
                    WHERE target_id IS NOT NULL AND picked_at IS NULL AND sent_at > statement_timestamp() - @window
                    UNION ALL
                    SELECT p.workspace_id FROM targets t JOIN posts p ON p.id = t.post_id
                    WHERE t.status = '{TargetStatus.Publishing}' AND t.lease_expires_at > statement_timestamp()) f
                GROUP BY workspace_id),
            workspaces AS (
                SELECT w.workspace_id, @share - coalesce(f.n, 0) AS room
                FROM (SELECT DISTINCT workspace_id FROM outbox
                      WHERE sent_at IS NULL AND workspace_id IS NOT NULL AND due_at <= statement_timestamp()) w
                LEFT JOIN in_flight f ON f.workspace_id = w.workspace_id
                WHERE coalesce(f.n, 0) < @share),
            turns AS (
                SELECT t.id, t.due_at, t.turn FROM workspaces w CROSS JOIN LATERAL (
                    SELECT o.id, o.due_at, row_number() OVER (ORDER BY o.due_at, o.id) AS turn FROM outbox o
                    WHERE o.workspace_id = w.workspace_id AND o.sent_at IS NULL AND o.due_at <= statement_timestamp()
                    ORDER BY o.due_at, o.id
                    LIMIT least(w.room, @batch)) t
                UNION ALL
                SELECT e.id, e.due_at, row_number() OVER (ORDER BY e.due_at, e.id) FROM (
                    SELECT id, due_at FROM outbox
                    WHERE workspace_id IS NULL AND sent_at IS NULL AND due_at <= statement_timestamp()
                    ORDER BY due_at, id
                    LIMIT @batch) e)
            SELECT ARRAY (SELECT id FROM turns ORDER BY turn, due_at, id LIMIT @batch), statement_timestamp()
            """, new { batch = _options.BatchSize, share = _options.InFlightPerWorkspace, window = _options.InFlightWindow }, tx);
        var locked = (await connection.QueryAsync<OutboxRow>("""
            SELECT id, message_type, payload::text AS payload, trace_parent, due_at FROM outbox
            WHERE id = ANY(@chosen) AND sent_at IS NULL
            FOR UPDATE SKIP LOCKED
            """, new { chosen }, tx)).ToDictionary(r => r.Id);
        var rows = chosen.Where(locked.ContainsKey).Select(id => locked[id]).ToList();
        if (rows.Count == 0)
        {
            return (0, 0, choseAt);
        }

        bool[] sent;
        using (var confirms = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            confirms.CancelAfter(_options.PublishTimeout);
            sent = await Task.WhenAll(rows.Select(row => SendAsync(row, confirms.Token, ct)));
        }

        var confirmedAt = clock.GetUtcNow();
        foreach (var row in rows.Where((_, i) => sent[i]))
        {
            metrics.Dispatched(row.MessageType, new DateTimeOffset(row.DueAt, TimeSpan.Zero), confirmedAt);
        }

        long[] sentIds = rows.Where((_, i) => sent[i]).Select(r => r.Id).ToArray();
        await connection.ExecuteAsync("UPDATE outbox SET sent_at = clock_timestamp() WHERE id = ANY(@sentIds)", new { sentIds }, tx);
        await tx.CommitAsync(ct);
        LogDispatched(sentIds.Length, rows.Count);
        return (rows.Count, sentIds.Length, choseAt);
    }

    private async Task<bool> SendAsync(OutboxRow row, CancellationToken confirmed, CancellationToken stopping)
    {
        if (!MessageTypes.TryGetValue(row.MessageType, out var type))
        {
            LogUnknownType(row.Id, row.MessageType);
            return false;
        }

        // Part of the trace of the request that scheduled it (MassTransit carries the context on to the consumer).
        using var activity = ActivityContext.TryParse(row.TraceParent, null, out var parent)
            ? Tracing.StartActivity($"send {row.MessageType}", ActivityKind.Producer, parent)
            : null;
        try
        {
            object message = JsonSerializer.Deserialize(row.Payload, type, JsonDefaults.Options)!;
            await bus.Publish(message, type, confirmed);
            return true;
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            // No confirm in time (the broker is away): left unsent, retried on the next pass. Should it have reached the
            // broker after all, the copy sent then is a duplicate, which consumers ignore.
            LogNotConfirmed(row.Id, _options.PublishTimeout);
            return false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Left unsent: the next pass retries it. Consumers are idempotent, so a duplicate is harmless.
            LogPublishFailed(e, row.Id);
            return false;
        }
    }

    /// <summary>
    /// How long until a message this replica could take falls due. Rows another transaction holds (a replica sending
    /// them) do not count, or an idle replica would spin on them; while an earlier row is held, it looks again after
    /// <see cref="DispatcherOptions.HeldRecheck"/>, in case the holder dies without sending it. Rows that were due when
    /// the last pass chose (<paramref name="choseAt"/>) and are still unsent were left for their workspace's share: it
    /// looks again after <see cref="DispatcherOptions.FairShareRecheck"/> at the latest. A row that fell due since (during
    /// the pass, or just after a wake-up a hair early) goes at once, and one due later is waited for, whatever rows
    /// wait for their share.
    /// </summary>
    private async Task<TimeSpan> UntilNextDueAsync(DateTime choseAt, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var next = await connection.QuerySingleAsync<(DateTime? NextFree, DateTime? NextNew, DateTime? NextAny, DateTime Now)>(new CommandDefinition("""
            SELECT (SELECT due_at FROM outbox WHERE sent_at IS NULL ORDER BY due_at LIMIT 1 FOR KEY SHARE SKIP LOCKED),
                   (SELECT due_at FROM outbox WHERE sent_at IS NULL AND due_at > @choseAt ORDER BY due_at LIMIT 1 FOR KEY SHARE SKIP LOCKED),
                   (SELECT min(due_at) FROM outbox WHERE sent_at IS NULL),
                   clock_timestamp()
            """, new { choseAt }, cancellationToken: ct));
        bool earlierHeld = next.NextAny is { } any && (next.NextFree is not { } free || any < free);
        var longest = earlierHeld ? _options.HeldRecheck : _options.MaxIdle;
        if (next.NextFree is { } waiting && waiting <= choseAt && _options.FairShareRecheck < longest)
        {
            longest = _options.FairShareRecheck;
        }

        return next.NextNew is { } due
            ? TimeSpan.FromTicks(Math.Clamp((due - next.Now).Ticks, 0, longest.Ticks))
            : longest;
    }

    [LoggerMessage(1, LogLevel.Warning, "Dispatcher interrupted; resuming in {Backoff}")]
    private partial void LogInterrupted(Exception error, TimeSpan backoff);

    [LoggerMessage(2, LogLevel.Debug, "Dispatched {Sent} of {Claimed} due outbox messages")]
    private partial void LogDispatched(int sent, int claimed);

    [LoggerMessage(3, LogLevel.Error, "Outbox message {Id} has unknown type {Type}; left unsent")]
    private partial void LogUnknownType(long id, string type);

    [LoggerMessage(4, LogLevel.Warning, "Publishing outbox message {Id} was not confirmed within {Timeout}")]
    private partial void LogNotConfirmed(long id, TimeSpan timeout);

    [LoggerMessage(5, LogLevel.Warning, "Publishing outbox message {Id} failed")]
    private partial void LogPublishFailed(Exception error, long id);
}
