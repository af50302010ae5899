using Grpc.Core;
using ScheduledPosts.Contracts.Messages;

namespace ScheduledPosts.Publisher.Publishing;

/// <summary>
/// Before the bus starts consuming, runs the claim path once, end to end, for a target that does not exist: the
/// channel to the scheduling service connects and the code on both sides is compiled, so the first due targets after a
/// start are not the ones that pay for it (docs/performance.md#cold-start). Best effort and bounded: if the scheduling
/// service is not reachable yet, the publisher starts anyway.
/// </summary>
public sealed partial class ClaimPathWarmup(IServiceScopeFactory scopes, ILogger<ClaimPathWarmup> logger)
    : IHostedService
{
    /// <summary>Ids no post or target has (theirs are prefixed ULIDs), so the claim is answered not_found and changes nothing.</summary>
    public static readonly TargetDue Probe = new("post_warmup", "tgt_warmup", 0);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var started = TimeProvider.System.GetTimestamp();
        try
        {
            // The claim's own deadline (Scheduling:CallTimeout) bounds it; a probe is never claimed, so nothing is uploaded.
            await using var scope = scopes.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<TargetPublisher>().PublishAsync(Probe, cancellationToken);
            Log.Warmed(logger, TimeProvider.System.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            Log.NotWarmed(logger, e.Message);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(EventId = 20, Level = LogLevel.Information, Message = "Claim path warmed up in {Milliseconds:0} ms")]
        public static partial void Warmed(ILogger logger, double milliseconds);

        [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "Could not warm up the claim path ({Reason}); the first claims will be slower")]
        public static partial void NotWarmed(ILogger logger, string reason);
    }
}
