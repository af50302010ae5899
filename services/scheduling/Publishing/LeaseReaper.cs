using Microsoft.Extensions.Options;

namespace ScheduledPosts.Scheduling.Publishing;

/// <summary>Finds claims whose lease ran out without a report and settles them as unknown outcomes (docs/publishing.md).</summary>
public sealed partial class LeaseReaper(TargetClaims claims, IOptions<PublishingOptions> options, ILogger<LeaseReaper> logger) : BackgroundService
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

    [LoggerMessage(2, LogLevel.Warning, "Lease reaper pass failed; retrying on the next tick")]
    private partial void LogPassFailed(Exception error);
}
