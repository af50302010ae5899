using Microsoft.Extensions.Options;
using ScheduledPosts.Scheduling.Posts;

namespace ScheduledPosts.Scheduling.Outbox;

/// <summary>Finds claims whose lease ran out without a report and settles them as unknown outcomes (SPEC §5).</summary>
public sealed class LeaseReaper(PostLifecycle lifecycle, IOptions<PublishingOptions> options, ILogger<LeaseReaper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ReaperInterval);
        do
        {
            try
            {
                int handled;
                while ((handled = await lifecycle.ExpireLeasesAsync(batch: 100)) > 0)
                {
                    logger.LogWarning("Settled {Count} expired publishing claims", handled);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Lease reaper pass failed; retrying on the next tick");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
