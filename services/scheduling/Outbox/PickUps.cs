using System.Threading.Channels;
using Dapper;
using Npgsql;
using ScheduledPosts.Scheduling.Publishing;

namespace ScheduledPosts.Scheduling.Outbox;

/// <summary>
/// Marks a target's due messages picked up once a publisher asked to claim it, granted or not: they then stop counting
/// against the workspace's share of messages in flight (docs/publishing.md#fair-shares). Behind the claims, not in them:
/// a publisher may receive a message before the dispatcher has committed the batch that sent it, and marking it waits
/// for that commit. Inside a claim, each such wait held a connection of the publishing path's pool — up to a whole batch
/// of them while the broker confirmed it — and another workspace's claim or report then waited for a connection. Here
/// one connection waits, for every pick-up that arrived meanwhile.
/// </summary>
/// <remarks>
/// A pick-up not yet recorded when the replica stops is lost: its message counts against the share until
/// <see cref="DispatcherOptions.InFlightWindow"/> has passed, as a message nobody picked up does.
/// </remarks>
public sealed partial class PickUps(
    [FromKeyedServices(PublishingOptions.Pool)] NpgsqlDataSource dataSource,
    ILogger<PickUps> logger) : BackgroundService
{
    /// <summary>The most target ids one statement marks.</summary>
    public const int MaxBatch = 500;

    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private readonly Channel<string> _targets = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>A publisher picked up the target's due message; recorded shortly, without waiting.</summary>
    public void Record(string targetId) => _targets.Writer.TryWrite(targetId);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<string>();
        try
        {
            while (await _targets.Reader.WaitToReadAsync(stoppingToken))
            {
                while (batch.Count < MaxBatch && _targets.Reader.TryRead(out var targetId))
                {
                    batch.Add(targetId);
                }

                try
                {
                    await MarkAsync(batch, stoppingToken);
                    batch.Clear();
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The database is away: the same pick-ups are tried again (with any that arrive meanwhile).
                    LogFailed(e, batch.Count, RetryDelay);
                    await Task.Delay(RetryDelay, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task MarkAsync(List<string> targetIds, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        // Waits for a dispatcher batch that sent one of them and is not yet committed; what it sent is then marked too.
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE outbox SET picked_at = clock_timestamp() WHERE target_id = ANY(@targetIds) AND picked_at IS NULL AND due_at <= clock_timestamp()",
            new { targetIds = targetIds.ToArray() }, cancellationToken: ct));
    }

    [LoggerMessage(1, LogLevel.Warning, "Could not mark {Count} pick-ups; trying again in {Delay}")]
    private partial void LogFailed(Exception error, int count, TimeSpan delay);
}
