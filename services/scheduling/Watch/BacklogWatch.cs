using System.Diagnostics.Metrics;
using Dapper;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.Scheduling.Posts;

namespace ScheduledPosts.Scheduling.Watch;

/// <summary>
/// Measures, every <see cref="WatchOptions.Interval"/>, what waits: due outbox messages by type and the age of the
/// oldest, targets waiting or publishing, and targets overdue (still waiting <see cref="WatchOptions.OverdueAfter"/>
/// after they fell due, their post still going out). The figures are gauges on <c>/metrics</c>, and an overdue target
/// makes <c>/readyz</c> say Degraded (<see cref="OverdueHealthCheck"/>): both read the same measurement, so they agree.
/// </summary>
public sealed partial class BacklogWatch : BackgroundService
{
    /// <summary>One measurement. Ages in seconds; zero when nothing waits.</summary>
    public sealed record Backlog(
        DateTimeOffset MeasuredAt, IReadOnlyList<DueMessages> Outbox, long Waiting, long Publishing, long Overdue, double OldestOverdueAge);

    public sealed record DueMessages(string MessageType, long Count, double OldestAge);

    private readonly NpgsqlDataSource _dataSource;
    private readonly WatchOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<BacklogWatch> _logger;

    public BacklogWatch(NpgsqlDataSource dataSource, IOptions<WatchOptions> options, TimeProvider clock, IMeterFactory meters, ILogger<BacklogWatch> logger)
    {
        _dataSource = dataSource;
        _options = options.Value;
        _clock = clock;
        _logger = logger;
        var meter = meters.Create(SchedulingMetrics.MeterName);
        meter.CreateObservableGauge("scheduledposts.outbox.due", () => Outbox(m => m.Count), "{message}",
            "Outbox messages due and not yet confirmed by the broker, by message type.");
        meter.CreateObservableGauge("scheduledposts.outbox.oldest_due_age", () => Outbox(m => m.OldestAge), "s",
            "How long the oldest due outbox message has waited, by message type.");
        meter.CreateObservableGauge<long>("scheduledposts.targets", () => Latest is { } b
            ? [new Measurement<long>(b.Waiting, Status(TargetStatus.Scheduled)), new Measurement<long>(b.Publishing, Status(TargetStatus.Publishing))]
            : [], "{target}", "Targets waiting for their time (scheduled) and being uploaded (publishing).");
        meter.CreateObservableGauge("scheduledposts.targets.overdue", () => Latest?.Overdue ?? 0, "{target}",
            "Targets still waiting longer than the overdue threshold after they fell due.");
        meter.CreateObservableGauge("scheduledposts.targets.oldest_overdue_age", () => Latest?.OldestOverdueAge ?? 0, "s",
            "How long past its due time the oldest overdue target is.");
    }

    /// <summary>The last measurement, or null before the first (or while the database is away since the start).</summary>
    public Backlog? Latest { get; private set; }

    public TimeSpan OverdueAfter => _options.OverdueAfter;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.Interval, _clock);
        do
        {
            try
            {
                Latest = await MeasureAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The database is away: /readyz says so through its own check; keep the last figures until it is back.
                LogMeasureFailed(e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public async Task<Backlog> MeasureAsync(CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        // statement_timestamp(), a stable function, lets the pending-messages index find the due ones; clock_timestamp()
        // would read the whole table, sent messages included, on every measurement.
        var outbox = (await connection.QueryAsync<DueMessages>("""
            SELECT message_type, count(*) AS count, extract(epoch FROM statement_timestamp() - min(due_at))::float8 AS oldest_age
            FROM outbox WHERE sent_at IS NULL AND due_at <= statement_timestamp()
            GROUP BY message_type
            """)).ToList();
        var targets = (await connection.QueryAsync<(string Status, long Count)>($"""
            SELECT status, count(*) FROM targets WHERE status IN ('{TargetStatus.Scheduled}', '{TargetStatus.Publishing}') GROUP BY status
            """)).ToDictionary(r => r.Status, r => r.Count);
        var (overdue, oldest) = await connection.QuerySingleAsync<(long, double?)>($"""
            SELECT count(*), extract(epoch FROM clock_timestamp() - min(t.next_attempt_at))::float8
            FROM targets t JOIN posts p ON p.id = t.post_id
            WHERE t.status = '{TargetStatus.Scheduled}' AND t.next_attempt_at < clock_timestamp() - @overdueAfter
              AND p.status IN ('{PostStatus.Scheduled}', '{PostStatus.Publishing}')
            """, new { overdueAfter = _options.OverdueAfter });
        return new Backlog(_clock.GetUtcNow(), outbox, targets.GetValueOrDefault(TargetStatus.Scheduled),
            targets.GetValueOrDefault(TargetStatus.Publishing), overdue, oldest ?? 0);
    }

    private IEnumerable<Measurement<T>> Outbox<T>(Func<DueMessages, T> value) where T : struct =>
        Latest?.Outbox.Select(m => new Measurement<T>(value(m), new KeyValuePair<string, object?>("message_type", m.MessageType))) ?? [];

    private static KeyValuePair<string, object?> Status(string status) => new("status", status);

    [LoggerMessage(1, LogLevel.Warning, "Could not measure the backlog; the metrics keep the last measurement")]
    private partial void LogMeasureFailed(Exception exception);
}

/// <summary>
/// <c>/readyz</c>'s watch on the work itself: Degraded, with the count and the oldest age, while targets are overdue
/// (SPEC: a post due and not started within the threshold). Tagged as a watch, not a readiness check: the service
/// still answers 200, and the body says Degraded (docs/operations.md#self-watch).
/// </summary>
public sealed class OverdueHealthCheck(BacklogWatch watch) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (watch.Latest is not { } backlog)
        {
            return Task.FromResult(HealthCheckResult.Healthy("Not measured yet."));
        }

        var data = new Dictionary<string, object>
        {
            ["overdueTargets"] = backlog.Overdue,
            ["oldestOverdueSeconds"] = Math.Round(backlog.OldestOverdueAge, 1),
            ["thresholdSeconds"] = watch.OverdueAfter.TotalSeconds,
            ["measuredAt"] = backlog.MeasuredAt,
        };
        return Task.FromResult(backlog.Overdue == 0
            ? HealthCheckResult.Healthy("No target is overdue.", data)
            : HealthCheckResult.Degraded(
                $"{backlog.Overdue} target(s) due more than {watch.OverdueAfter.TotalSeconds:0} s ago have not started publishing; the oldest is {backlog.OldestOverdueAge:0} s past due.",
                data: data));
    }
}
