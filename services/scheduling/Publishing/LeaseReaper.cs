using Microsoft.Extensions.Options;

namespace ScheduledPosts.Scheduling.Publishing;

/// <summary>
/// Finds claims whose lease ran out without a report and settles them as unknown outcomes, and sends again the message of
/// due targets that never led to a claim (docs/publishing.md#lost-messages).
/// </summary>
public sealed partial class LeaseReaper(TargetClaims claims, TargetRemovals removals, IOptions<PublishingOptions> options, ILogger<LeaseReaper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ReaperInterval);
        do
        {
            try
            {
                int handled;
                while ((handled = await claims.ExpireLeasesAsync(batch: 100)) > 0)
                {
                    LogSettled(handled);
                }

                while ((handled = await claims.ResendUnclaimedAsync(batch: 100)) > 0)
                {
                    LogResent(handled);
                }

                while ((handled = await removals.ResendStalledAsync(batch: 100)) > 0)
                {
                    LogRemovalsResent(handled);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogPassFailed(e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(1, LogLevel.Warning, "Settled {Count} expired publishing claims")]
    private partial void LogSettled(int count);

    [LoggerMessage(3, LogLevel.Warning, "Sent again the due message of {Count} targets that waited without a claim")]
    private partial void LogResent(int count);

    [LoggerMessage(4, LogLevel.Warning, "Sent again {Count} pending removals (unpublish) that waited without a live claim")]
    private partial void LogRemovalsResent(int count);

    [LoggerMessage(2, LogLevel.Warning, "Lease reaper pass failed; retrying on the next tick")]
    private partial void LogPassFailed(Exception error);
}
