using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Watch;

/// <summary>
/// <c>GET /admin/status</c>: the scheduling part of the gateway's admin status (docs/operations.md#admin-status), measured
/// when asked — the broker's queues, the outbox and targets waiting, and the lag percentiles of the recent window. Only
/// the gateway's identity for the admin token gets it (<see cref="InternalPolicies.Admin"/>), checked here too. No
/// workspace, post or account id appears in it.
/// </summary>
public static class StatusApi
{
    public static IEndpointRouteBuilder MapStatusApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/admin/status", GetStatusAsync)
            .RequireAuthorization(InternalPolicies.Admin)
            .ExcludeFromDescription();
        return app;
    }

    private static async Task<IResult> GetStatusAsync(BacklogWatch watch, LagReader lag, BrokerQueues queues, CancellationToken ct)
    {
        var backlog = await watch.MeasureAsync(ct);
        var brokerQueues = queues.ReadAsync(ct);
        var lags = await lag.ReadAsync(ct);
        return TypedResults.Ok(new SchedulingStatusJson(
            backlog.MeasuredAt,
            await brokerQueues,
            new OutboxJson(backlog.Outbox.Sum(m => m.Count), backlog.Outbox.Select(m => m.OldestAge).DefaultIfEmpty(0).Max(),
                [.. backlog.Outbox.OrderBy(m => m.MessageType, StringComparer.Ordinal).Select(m => new DueMessagesJson(m.MessageType, m.Count, Round(m.OldestAge)))]),
            new TargetsJson(backlog.Waiting, backlog.Publishing, backlog.Overdue, Round(backlog.OldestOverdueAge), watch.OverdueAfter.TotalSeconds),
            lags));
    }

    internal static double Round(double seconds) => Math.Round(seconds, 3);
}

/// <summary>
/// The lag a user noticed over the last <see cref="WatchOptions.LagWindow"/>, from the outbox rows themselves (each
/// process's histograms hold only its own share): due → the broker's confirm (<c>sent_at</c>) of every message sent in
/// the window, and due → a publisher's pick-up (<c>picked_at</c>, set by its claim) of every <c>TargetDue</c> picked up in it.
/// </summary>
public sealed class LagReader(NpgsqlDataSource dataSource, IOptions<WatchOptions> options)
{
    public async Task<LagJson> ReadAsync(CancellationToken ct)
    {
        var window = options.Value.LagWindow;
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        // A message sent or picked up before its due time (a retry time in the past, a clock step) counts as on time.
        var rows = (await connection.QueryAsync<(string Kind, long Samples, double? P50, double? P95, double? P99)>("""
            WITH lags AS (
                SELECT 'dispatch' AS kind, greatest(0, extract(epoch FROM sent_at - due_at))::float8 AS lag
                FROM outbox WHERE sent_at > clock_timestamp() - @window
                UNION ALL
                SELECT 'claim', greatest(0, extract(epoch FROM picked_at - due_at))::float8
                FROM outbox WHERE picked_at > clock_timestamp() - @window AND target_id IS NOT NULL)
            SELECT kind, count(*),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY lag),
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY lag)
            FROM lags GROUP BY kind
            """, new { window })).ToDictionary(r => r.Kind);
        return new LagJson(window.TotalSeconds, Percentiles(rows, "dispatch"), Percentiles(rows, "claim"));
    }

    private static LagPercentilesJson Percentiles(Dictionary<string, (string Kind, long Samples, double? P50, double? P95, double? P99)> rows, string kind)
        => rows.TryGetValue(kind, out var r)
            ? new LagPercentilesJson(r.Samples, StatusApi.Round(r.P50 ?? 0), StatusApi.Round(r.P95 ?? 0), StatusApi.Round(r.P99 ?? 0))
            : new LagPercentilesJson(0, null, null, null);
}

/// <param name="Queues">The broker's queues in this service's virtual host, error queues included.</param>
/// <param name="Outbox">Messages due and not yet confirmed by the broker.</param>
/// <param name="Targets">Targets waiting, publishing, and overdue (docs/operations.md#self-watch).</param>
/// <param name="Lag">Percentiles of the lag over the recent window.</param>
public sealed record SchedulingStatusJson(DateTimeOffset MeasuredAt, QueuesJson Queues, OutboxJson Outbox, TargetsJson Targets, LagJson Lag);

public sealed record OutboxJson(long Due, double OldestDueAgeSeconds, IReadOnlyList<DueMessagesJson> ByMessageType);

public sealed record DueMessagesJson(string MessageType, long Due, double OldestDueAgeSeconds);

public sealed record TargetsJson(long Scheduled, long Publishing, long Overdue, double OldestOverdueAgeSeconds, double OverdueThresholdSeconds);

public sealed record LagJson(double WindowSeconds, LagPercentilesJson DueToDispatched, LagPercentilesJson DueToClaimed);

/// <summary>Seconds; null when nothing happened in the window.</summary>
public sealed record LagPercentilesJson(long Samples, double? P50, double? P95, double? P99);
