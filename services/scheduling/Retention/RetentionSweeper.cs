using Dapper;
using Npgsql;
using ScheduledPosts.Scheduling.Media;

namespace ScheduledPosts.Scheduling.Retention;

/// <summary>
/// Removes what is no longer needed, after the transactions that made it so: files of media no post uses any
/// more (a storage failure is logged and retried on the next sweep, never failing a request), expired
/// idempotency keys, and outbox rows sent more than a day ago. Sweeps every minute, or at once when asked.
/// </summary>
public sealed partial class RetentionSweeper(NpgsqlDataSource dataSource, IMediaStorage storage, ILogger<RetentionSweeper> logger) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0, 1);

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
                await _wake.WaitAsync(TimeSpan.FromMinutes(1), stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public async Task SweepAsync(CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using (var tx = await connection.BeginTransactionAsync(ct))
        {
            var orphans = await connection.QueryAsync<string>(
                "SELECT id FROM media WHERE orphaned_at IS NOT NULL ORDER BY orphaned_at LIMIT 100 FOR UPDATE SKIP LOCKED", transaction: tx);
            foreach (string mediaId in orphans)
            {
                try
                {
                    await storage.DeleteAsync(mediaId, ct);
                    await connection.ExecuteAsync("DELETE FROM media WHERE id = @mediaId", new { mediaId }, tx);
                }
                catch (IOException e)
                {
                    LogRemoveFailed(e, mediaId);
                }
            }

            await tx.CommitAsync(ct);
        }

        await connection.ExecuteAsync(new CommandDefinition("""
            DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours';
            DELETE FROM outbox WHERE sent_at < now() - interval '24 hours';
            """, cancellationToken: ct));
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }

    [LoggerMessage(1, LogLevel.Warning, "Retention sweep failed; retrying on the next one")]
    private partial void LogSweepFailed(Exception error);

    [LoggerMessage(2, LogLevel.Warning, "Could not remove media {MediaId} from storage; will retry")]
    private partial void LogRemoveFailed(Exception error, string mediaId);
}
