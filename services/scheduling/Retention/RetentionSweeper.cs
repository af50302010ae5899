using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Data;
using ScheduledPosts.Scheduling.Media;

namespace ScheduledPosts.Scheduling.Retention;

/// <summary>What one sweep did (for tests and the log).</summary>
public sealed record SweepResult(int MediaOrphaned, int MediaRemoved, int MediaRestored, int MediaFailed, int RowsDeleted, int StepsFailed);

/// <summary>
/// Removes what is no longer needed, after the transactions that made it so (docs/operations.md#retention): media no
/// post uses (orphaned by a delete, or never attached within <see cref="RetentionOptions.UnattachedMedia"/>), expired
/// idempotency keys, old sent outbox rows and old audit entries. Every step and every medium is its own short
/// transaction: one that fails is logged and retried on the next sweep, and the rest goes on.
/// Sweeps every <see cref="RetentionOptions.Interval"/>, or at once when asked.
/// </summary>
public sealed partial class RetentionSweeper(
    NpgsqlDataSource dataSource, IMediaStorage storage, IOptions<RetentionOptions> options, ILogger<RetentionSweeper> logger) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly RetentionOptions _options = options.Value;

    /// <summary>Asks for a sweep now (e.g. after a post with media was deleted).</summary>
    public void RequestSweep()
    {
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // a sweep is already requested
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogSweepFailed(e);
            }

            try
            {
                await _wake.WaitAsync(_options.Interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public async Task<SweepResult> SweepAsync(CancellationToken ct)
    {
        int failedSteps = 0;
        int orphaned = await StepAsync("orphan unattached media", OrphanUnattachedMediaAsync);
        var (removed, restored, failedMedia) = await RemoveOrphansAsync(ct);
        int deleted = await StepAsync("idempotency keys", c => DeleteInBatchesAsync("""
            DELETE FROM idempotency_keys WHERE (workspace_id, key) IN (
                SELECT workspace_id, key FROM idempotency_keys WHERE created_at < now() - @window
                LIMIT @batch FOR UPDATE SKIP LOCKED)
            """, _options.IdempotencyKeys, c));
        deleted += await StepAsync("sent outbox rows", c => DeleteInBatchesAsync("""
            DELETE FROM outbox WHERE id IN (
                SELECT id FROM outbox WHERE sent_at < now() - @window LIMIT @batch FOR UPDATE SKIP LOCKED)
            """, _options.SentOutbox, c));
        if (_options.AuditEntries > TimeSpan.Zero)
        {
            deleted += await StepAsync("audit entries", c => DeleteInBatchesAsync("""
                DELETE FROM post_audit WHERE id IN (
                    SELECT id FROM post_audit WHERE at < now() - @window LIMIT @batch FOR UPDATE SKIP LOCKED)
                """, _options.AuditEntries, c));
        }

        var result = new SweepResult(orphaned, removed, restored, failedMedia, deleted, failedSteps);
        if (orphaned + removed + restored + failedMedia + deleted + failedSteps > 0)
        {
            LogSwept(orphaned, removed, restored, failedMedia, deleted, failedSteps);
        }

        return result;

        async Task<int> StepAsync(string step, Func<CancellationToken, Task<int>> run)
        {
            try
            {
                return await run(ct);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                failedSteps++;
                LogStepFailed(e, step);
                return 0;
            }
        }
    }

    /// <summary>Marks media no post links to, uploaded longer ago than the window, as orphaned; in batches.</summary>
    private async Task<int> OrphanUnattachedMediaAsync(CancellationToken ct)
    {
        int total = 0;
        while (true)
        {
            await using var connection = await dataSource.OpenConnectionAsync(ct);
            await using var tx = await connection.BeginTransactionAsync(ct);
            // Locking the rows first makes an attach (its foreign key check) wait for us, and the update, a new
            // statement, then sees every link committed before: a medium being attached is never orphaned here.
            string[] candidates = [.. await connection.QueryAsync<string>(new CommandDefinition("""
                SELECT id FROM media m
                WHERE orphaned_at IS NULL AND created_at < now() - @window
                  AND NOT EXISTS (SELECT 1 FROM post_media pm WHERE pm.media_id = m.id)
                ORDER BY created_at LIMIT @batch FOR UPDATE SKIP LOCKED
                """, new { window = _options.UnattachedMedia, batch = _options.BatchSize }, tx, cancellationToken: ct))];
            if (candidates.Length == 0)
            {
                return total;
            }

            total += await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE media SET orphaned_at = clock_timestamp()
                WHERE id = ANY (@candidates) AND NOT EXISTS (SELECT 1 FROM post_media pm WHERE pm.media_id = media.id)
                """, new { candidates }, tx, cancellationToken: ct));
            await tx.CommitAsync(ct);
            if (candidates.Length < _options.BatchSize)
            {
                return total;
            }
        }
    }

    private enum Removal
    {
        Removed,
        Restored,
        Skipped,
    }

    /// <summary>Removes every orphaned medium, each in its own transaction; one that fails is left for the next sweep.</summary>
    private async Task<(int Removed, int Restored, int Failed)> RemoveOrphansAsync(CancellationToken ct)
    {
        int removed = 0, restored = 0, failed = 0;
        // Media tried in this sweep (failed, or locked by another replica) are not picked again until the next one.
        var tried = new List<string>();
        while (true)
        {
            string[] batch;
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(ct);
                batch = [.. await connection.QueryAsync<string>(new CommandDefinition(
                    "SELECT id FROM media WHERE orphaned_at IS NOT NULL AND NOT (id = ANY (@tried)) ORDER BY orphaned_at, id LIMIT @batch",
                    new { tried = tried.ToArray(), batch = _options.BatchSize }, cancellationToken: ct))];
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                LogStepFailed(e, "list orphaned media");
                return (removed, restored, failed + 1);
            }

            foreach (string mediaId in batch)
            {
                tried.Add(mediaId);
                try
                {
                    switch (await RemoveOrphanAsync(mediaId, ct))
                    {
                        case Removal.Removed:
                            removed++;
                            break;
                        case Removal.Restored:
                            restored++;
                            LogRestored(mediaId);
                            break;
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    failed++;
                    LogRemoveFailed(e, mediaId);
                }
            }

            if (batch.Length < _options.BatchSize)
            {
                return (removed, restored, failed);
            }
        }
    }

    /// <summary>Removes one orphaned medium, row and file together; or un-orphans it if a post links to it after all.</summary>
    private async Task<Removal> RemoveOrphanAsync(string mediaId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        if (await connection.ExecuteScalarAsync<string>(new CommandDefinition(
                "SELECT id FROM media WHERE id = @mediaId AND orphaned_at IS NOT NULL FOR UPDATE SKIP LOCKED",
                new { mediaId }, tx, cancellationToken: ct)) is null)
        {
            return Removal.Skipped;
        }

        // Race: a draft edit may have attached the medium while a delete (or the unattached step) orphaned it. Our row lock
        // makes any new post_media insert wait (its foreign key check), and this new statement sees every link committed
        // before it: so a medium in use is never removed, and one found in use is simply orphaned no more.
        int deleted = await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM media WHERE id = @mediaId AND NOT EXISTS (SELECT 1 FROM post_media pm WHERE pm.media_id = @mediaId)",
            new { mediaId }, tx, cancellationToken: ct));
        if (deleted == 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE media SET orphaned_at = NULL WHERE id = @mediaId", new { mediaId }, tx, cancellationToken: ct));
            await tx.CommitAsync(ct);
            return Removal.Restored;
        }

        // The file goes before the commit: if storage fails, the row stays orphaned and the next sweep tries again.
        await storage.DeleteAsync(mediaId, ct);
        await tx.CommitAsync(ct);
        return Removal.Removed;
    }

    /// <summary>Runs a bounded delete (<c>@window</c>, <c>@batch</c>) until it deletes less than a batch; each batch commits alone.</summary>
    private Task<int> DeleteInBatchesAsync(string sql, TimeSpan window, CancellationToken ct)
        => dataSource.DeleteInBatchesAsync(sql, window, _options.BatchSize, ct);

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }

    [LoggerMessage(1, LogLevel.Warning, "Retention sweep failed; retrying on the next one")]
    private partial void LogSweepFailed(Exception error);

    [LoggerMessage(2, LogLevel.Warning, "Could not remove media {MediaId}; will retry on the next sweep")]
    private partial void LogRemoveFailed(Exception error, string mediaId);

    [LoggerMessage(3, LogLevel.Warning, "Retention step '{Step}' failed; the other steps went on, this one retries on the next sweep")]
    private partial void LogStepFailed(Exception error, string step);

    [LoggerMessage(4, LogLevel.Information, "Media {MediaId} was orphaned but a post uses it: kept")]
    private partial void LogRestored(string mediaId);

    [LoggerMessage(5, LogLevel.Information,
        "Retention sweep: {Orphaned} media orphaned, {Removed} removed, {Restored} kept in use, {MediaFailed} failed; {Deleted} rows deleted; {StepsFailed} steps failed")]
    private partial void LogSwept(int orphaned, int removed, int restored, int mediaFailed, int deleted, int stepsFailed);
}
