using System.Diagnostics.Metrics;
using Dapper;
using Npgsql;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>
/// Webhook delivery on <c>/metrics</c> (docs/operations.md#metrics): attempts by outcome (<c>delivered</c>,
/// <c>retrying</c>, <c>failed</c>) with their duration, and, measured every few seconds, the deliveries due and not yet
/// made, the age of the oldest, and how many endpoints are switched off. Never an endpoint or workspace as a label.
/// </summary>
public sealed partial class DeliveryMetrics : BackgroundService
{
    public const string MeterName = "ScheduledPosts.Webhooks";

    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger<DeliveryMetrics> _logger;
    private readonly Counter<long> _attempts;
    private readonly Histogram<double> _attemptDuration;
    private Backlog? _latest;

    private sealed record Backlog(long Due, double OldestDueAge, long DisabledEndpoints);

    public DeliveryMetrics(NpgsqlDataSource dataSource, IMeterFactory meters, ILogger<DeliveryMetrics> logger)
    {
        _dataSource = dataSource;
        _logger = logger;
        var meter = meters.Create(MeterName);
        _attempts = meter.CreateCounter<long>("scheduledposts.webhook.attempts", "{attempt}",
            "Delivery attempts, by what the delivery became: delivered, retrying or failed.");
        _attemptDuration = meter.CreateHistogram("scheduledposts.webhook.attempt.duration", "s",
            "How long an endpoint took to answer a delivery attempt.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        meter.CreateObservableGauge("scheduledposts.webhook.backlog", () => _latest?.Due ?? 0, "{delivery}",
            "Deliveries due and not yet made.");
        meter.CreateObservableGauge("scheduledposts.webhook.backlog.oldest_age", () => _latest?.OldestDueAge ?? 0, "s",
            "How long the oldest due delivery has waited.");
        meter.CreateObservableGauge("scheduledposts.webhook.endpoints.disabled", () => _latest?.DisabledEndpoints ?? 0, "{endpoint}",
            "Endpoints switched off (by their owner, a 410, or failing for too long).");
    }

    public void Attempted(string deliveryStatus, TimeSpan took)
    {
        var outcome = new KeyValuePair<string, object?>("outcome", deliveryStatus == DeliveryStatus.Pending ? "retrying" : deliveryStatus);
        _attempts.Add(1, outcome);
        _attemptDuration.Record(took.TotalSeconds, outcome);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        do
        {
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(stoppingToken);
                // A claimed delivery stays pending with next_attempt_at pushed to its lease's end: it is not counted as due.
                _latest = await connection.QuerySingleAsync<Backlog>($"""
                    SELECT (SELECT count(*) FROM deliveries WHERE status = '{DeliveryStatus.Pending}' AND next_attempt_at <= clock_timestamp()) AS due,
                           coalesce((SELECT extract(epoch FROM clock_timestamp() - min(next_attempt_at))::float8 FROM deliveries
                                     WHERE status = '{DeliveryStatus.Pending}' AND next_attempt_at <= clock_timestamp()), 0) AS oldest_due_age,
                           (SELECT count(*) FROM endpoints WHERE NOT enabled) AS disabled_endpoints
                    """);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogMeasureFailed(e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(1, LogLevel.Warning, "Could not measure the delivery backlog; the metrics keep the last measurement")]
    private partial void LogMeasureFailed(Exception exception);
}
