using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Data;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>The <c>Webhooks:Retention</c> section: how long events, deliveries and attempts are kept (docs/operations.md#retention).</summary>
public sealed class WebhookRetentionOptions
{
    public const string Section = "Webhooks:Retention";

    /// <summary>Delivered or failed deliveries last changed this long ago are removed with their attempts; pending ones never are.</summary>
    public TimeSpan FinishedDeliveries { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Attempts made this long ago are removed, unless their delivery is pending (a redelivered one keeps a bounded history).</summary>
    public TimeSpan Attempts { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// Events no delivery refers to (nobody subscribed, or their deliveries were removed) and received this long ago are
    /// removed. Until then a redelivered bus message is still recognised as already recorded.
    /// </summary>
    public TimeSpan EventsWithoutDeliveries { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Time between sweeps.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Rows one statement deletes, so a large backlog is worked off in short transactions.</summary>
    public int BatchSize { get; set; } = 500;
}

/// <summary>Rows one sweep deleted per table, and how many of its steps failed.</summary>
public sealed record WebhookSweepResult(int Attempts, int Deliveries, int Events, int IdempotencyKeys, int StepsFailed);

/// <summary>
/// Removes old finished deliveries (their attempts cascade), old attempts of finished deliveries, events no delivery
/// refers to, and idempotency keys past their replay window. Each step runs in bounded batches, each its own statement; a step that fails is logged and the others go on.
/// </summary>
public sealed partial class RetentionSweeper(
    NpgsqlDataSource dataSource, IOptions<WebhookRetentionOptions> options, ILogger<RetentionSweeper> logger) : BackgroundService
{
    private readonly WebhookRetentionOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await SweepAsync(stoppingToken);
            try
            {
                await Task.Delay(_options.Interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public async Task<WebhookSweepResult> SweepAsync(CancellationToken ct)
    {
        int failed = 0;
        int attempts = await StepAsync("attempts", $"""
            DELETE FROM delivery_attempts WHERE id IN (
                SELECT a.id FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
                WHERE a.attempted_at < now() - @window AND d.status <> '{DeliveryStatus.Pending}'
                LIMIT @batch FOR UPDATE OF a SKIP LOCKED)
            """, _options.Attempts);
        // A redelivery turns a finished delivery pending again under its row lock: the lock and re-check of FOR UPDATE skip it.
        int deliveries = await StepAsync("finished deliveries", $"""
            DELETE FROM deliveries WHERE id IN (
                SELECT id FROM deliveries
                WHERE status IN ('{DeliveryStatus.Delivered}', '{DeliveryStatus.Failed}') AND updated_at < now() - @window
                LIMIT @batch FOR UPDATE SKIP LOCKED)
            """, _options.FinishedDeliveries);
        int events = await StepAsync("events without deliveries", """
            DELETE FROM events WHERE id IN (
                SELECT e.id FROM events e
                WHERE e.received_at < now() - @window AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
                LIMIT @batch FOR UPDATE SKIP LOCKED)
            """, _options.EventsWithoutDeliveries);
        int keys = await StepAsync("idempotency keys", """
            DELETE FROM idempotency_keys WHERE (workspace_id, key) IN (
                SELECT workspace_id, key FROM idempotency_keys WHERE created_at < now() - @window
                LIMIT @batch FOR UPDATE SKIP LOCKED)
            """, IdempotencyKeys.ReplayedFor);
        if (attempts + deliveries + events + keys + failed > 0)
        {
            LogSwept(attempts, deliveries, events, keys, failed);
        }

        return new WebhookSweepResult(attempts, deliveries, events, keys, failed);

        async Task<int> StepAsync(string step, string sql, TimeSpan window)
        {
            try
            {
                return await dataSource.DeleteInBatchesAsync(sql, window, _options.BatchSize, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                failed++;
                LogStepFailed(e, step);
                return 0;
            }
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "Webhook retention step '{Step}' failed; the other steps went on, this one retries on the next sweep")]
    private partial void LogStepFailed(Exception error, string step);

    [LoggerMessage(2, LogLevel.Information, "Webhook retention sweep: {Attempts} attempts, {Deliveries} deliveries, {Events} events, {IdempotencyKeys} idempotency keys deleted; {StepsFailed} steps failed")]
    private partial void LogSwept(int attempts, int deliveries, int events, int idempotencyKeys, int stepsFailed);
}
