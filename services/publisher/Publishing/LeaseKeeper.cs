using Grpc.Core;
using ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Publisher.Publishing;

/// <summary>
/// Keeps a claim's lease alive while its upload (or a removal's deletion) runs (docs/publishing.md#leases), renewing it
/// well before it runs out. When the claim is no longer the live one, or its lease runs out before a renewal gets
/// through, <see cref="Lost"/> is cancelled and the upload with it: the scheduling service may hand the target to
/// another claim, and two uploads of one target must never run at once.
/// </summary>
public sealed partial class LeaseKeeper : IAsyncDisposable
{
    private static readonly TimeSpan MinimumRetry = TimeSpan.FromMilliseconds(100);

    private readonly Targets.TargetsClient _targets;
    private readonly string _targetId;
    private readonly string _postId;
    private readonly string _leaseToken;
    private readonly TimeProvider _clock;
    private readonly TimeSpan _callTimeout;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _done = new();
    private readonly Task _renewing;
    private DateTimeOffset _expires;
    private volatile bool _reporting;

    private LeaseKeeper(Targets.TargetsClient targets, string targetId, string postId, string leaseToken, DateTimeOffset expires, TimeProvider clock,
        TimeSpan callTimeout, ILogger logger)
    {
        _targets = targets;
        _targetId = targetId;
        _postId = postId;
        _leaseToken = leaseToken;
        _clock = clock;
        _callTimeout = callTimeout;
        _logger = logger;
        _expires = expires;
        _renewing = RenewAsync();
    }

    /// <summary>Cancelled once the lease is lost; the upload must stop.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>
    /// The upload has ended and its report is on its way; the lease is still kept until it is answered. A claim that stops
    /// being the live one now was most likely ended by that very report, which is no cause for a warning.
    /// </summary>
    public void Reporting() => _reporting = true;

    /// <summary>Starts keeping <paramref name="target"/>'s lease; a claim without an expiry needs no keeping.</summary>
    public static LeaseKeeper? Start(Targets.TargetsClient targets, ClaimedTarget target, TimeProvider clock, TimeSpan callTimeout, ILogger logger)
        => target.LeaseExpiresAt is null
            ? null
            : new LeaseKeeper(targets, target.TargetId, target.PostId, target.LeaseToken, target.LeaseExpiresAt.ToDateTimeOffset(), clock, callTimeout, logger);

    /// <summary>Starts keeping a removal's lease (unpublish), which the scheduling service renews as it does an upload's.</summary>
    public static LeaseKeeper? Start(Targets.TargetsClient targets, UnpublishClaim removal, TimeProvider clock, TimeSpan callTimeout, ILogger logger)
        => removal.LeaseExpiresAt is null
            ? null
            : new LeaseKeeper(targets, removal.TargetId, removal.PostId, removal.LeaseToken, removal.LeaseExpiresAt.ToDateTimeOffset(), clock, callTimeout, logger);

    private async Task RenewAsync()
    {
        try
        {
            while (true)
            {
                // A third of what is left: two more tries before it runs out, should one fail.
                var left = _expires - _clock.GetUtcNow();
                if (left <= TimeSpan.Zero)
                {
                    Log.Expired(_logger, _targetId, _postId);
                    await _lost.CancelAsync();
                    return;
                }

                // Near the end, no burst of last-moment tries: wait it out, then give the claim up.
                var wait = left / 3 < MinimumRetry ? left : left / 3;
                await Task.Delay(wait, _clock, _done.Token);
                if (wait == left)
                {
                    continue;
                }

                try
                {
                    var renewed = await _targets.RenewLeaseAsync(
                        new RenewLeaseRequest { TargetId = _targetId, LeaseToken = _leaseToken },
                        deadline: (_clock.GetUtcNow() + _callTimeout).UtcDateTime, cancellationToken: _done.Token);
                    _expires = renewed.LeaseExpiresAt.ToDateTimeOffset();
                }
                catch (RpcException e) when (e.StatusCode is StatusCode.FailedPrecondition or StatusCode.NotFound)
                {
                    if (_reporting)
                    {
                        Log.EndedWhileReporting(_logger, _targetId, _postId);
                    }
                    else
                    {
                        Log.Revoked(_logger, _targetId, _postId);
                    }

                    await _lost.CancelAsync();
                    return;
                }
                catch (RpcException e) when (!_done.IsCancellationRequested)
                {
                    // The scheduling service is away for a moment: try again while the lease lasts.
                    Log.RenewFailed(_logger, _targetId, e.StatusCode);
                }
            }
        }
        catch (Exception e) when (_done.IsCancellationRequested && e is OperationCanceledException or RpcException)
        {
            // The upload ended; nothing more to keep.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _done.CancelAsync();
        await _renewing;
        _done.Dispose();
        _lost.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning,
            Message = "The lease on target {TargetId} of post {PostId} ran out before a renewal got through; stopping its upload")]
        public static partial void Expired(ILogger logger, string targetId, string postId);

        [LoggerMessage(EventId = 2, Level = LogLevel.Warning,
            Message = "The claim on target {TargetId} of post {PostId} is no longer the live one; stopping its upload")]
        public static partial void Revoked(ILogger logger, string targetId, string postId);

        [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Renewing the lease on target {TargetId} failed ({Status}); trying again")]
        public static partial void RenewFailed(ILogger logger, string targetId, StatusCode status);

        [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "The claim on target {TargetId} of post {PostId} ended while its report was under way")]
        public static partial void EndedWhileReporting(ILogger logger, string targetId, string postId);
    }
}
