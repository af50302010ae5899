using System.Diagnostics;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Connectors;

namespace ScheduledPosts.Publisher.Publishing;

/// <summary>
/// Publishes one due target (docs/publishing.md): claim it from the scheduling service, wait for the publisher's own limits,
/// upload it through its platform's connector, report the outcome. A target that cannot be claimed (cancelled,
/// deleted, stale, already claimed) is left alone: that is what makes a redelivered or outdated
/// <see cref="TargetDue"/> harmless. While the upload runs its lease is renewed (<see cref="LeaseKeeper"/>). Once
/// claimed, a target is always reported, also when the publisher stops.
/// </summary>
public sealed partial class TargetPublisher(
    Targets.TargetsClient targets,
    TargetsBatcher batcher,
    ConnectorRegistry connectors,
    UploadLimits limits,
    IOptions<SchedulingOptions> options,
    IOptions<UploadLimitsOptions> limitsOptions,
    TimeProvider clock,
    ILogger<TargetPublisher> logger)
{
    private readonly SchedulingOptions _options = options.Value;

    /// <summary>Returns what the platform made of the upload, or null when the target was not claimed.</summary>
    /// <param name="cancellationToken">Cancelled when the publisher stops and an upload may no longer finish.</param>
    /// <exception cref="RpcException">The claim failed; nothing was uploaded, so the message may be retried.</exception>
    /// <exception cref="OperationCanceledException">Cancelled before the claim; the message may be delivered again.</exception>
    public async Task<ConnectorResult?> PublishAsync(TargetDue due, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // Not cancelled with the message: a claim cut short might have been granted, stranding the target until its
        // lease expires. The call's deadline bounds it, and a target claimed while stopping is handed straight back.
        var claim = await batcher.ClaimAsync(due.WorkspaceId, new ClaimTargetRequest { PostId = due.PostId, TargetId = due.TargetId, ScheduleVersion = due.ScheduleVersion });
        if (!claim.Claimed)
        {
            Log.NotClaimed(logger, due.TargetId, due.PostId, due.ScheduleVersion, claim.Reason);
            return null;
        }

        var target = claim.Target;
        ConnectorResult result;
        await using (var lease = LeaseKeeper.Start(targets, target, clock, _options.CallTimeout, logger))
        {
            // The upload stops when the publisher stops, and when its claim is lost (another may be granted).
            using (var upload = lease is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.Lost))
            {
                result = await UploadAsync(target, upload?.Token ?? cancellationToken);
            }

            PublisherMetrics.Attempted(target.Platform, result);
            // Still under the kept lease: a report slow to get through (the scheduling service overloaded) does not let the
            // claim run out, so the target is not settled as LEASE_EXPIRED or UNKNOWN_OUTCOME meanwhile.
            lease?.Reporting();
            await CompleteAsync(target, result);
        }

        return result;
    }

    private async Task<ConnectorResult> UploadAsync(ClaimedTarget target, CancellationToken cancellationToken)
    {
        var connector = connectors.Find(target.Platform);
        if (connector is null)
        {
            return new ConnectorResult.Failed(ConnectorErrors.UnsupportedPlatform,
                $"The publisher has no connector for the platform '{target.Platform}'.", Retryable: false);
        }

        IDisposable? permit;
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            permit = await limits.AcquireAsync(target.Platform, target.AccountId, MaxWait(limitsOptions.Value.MaxWait, target.LeaseExpiresAt, clock), cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new ConnectorResult.Failed(ConnectorErrors.PublisherStopping,
                "The publisher stopped before the upload started; nothing was sent.", Retryable: true);
        }

        if (permit is null)
        {
            return new ConnectorResult.Failed(ConnectorErrors.PublisherBusy,
                $"The publisher's own limits for {target.Platform} account {target.AccountHandle} stayed full; nothing was sent.", Retryable: true);
        }

        using (permit)
        {
            var result = await SendAsync(connector, target, cancellationToken);
            if (result is ConnectorResult.Failed refused && CredentialRefresh.Applies(refused, target.Platform))
            {
                result = await RefreshAndSendAgainAsync(connector, target, refused, cancellationToken);
            }

            return Settle(result, connector);
        }
    }

    /// <summary>The platform refused the account's credentials: refreshed, the upload is tried once more (<see cref="CredentialRefresh"/>).</summary>
    private async Task<ConnectorResult> RefreshAndSendAgainAsync(IConnector connector, ClaimedTarget target, ConnectorResult.Failed refused, CancellationToken cancellationToken)
    {
        var (fresh, failure) = await CredentialRefresh.RefreshAsync(targets,
            new RefusedAccount(target.TargetId, target.LeaseToken, target.Platform, target.AccountHandle, target.CredentialsJson), refused, Deadline(), cancellationToken);
        if (fresh is null)
        {
            return failure!;
        }

        Log.Refreshed(logger, target.TargetId, target.Platform, target.AccountId);
        var renewed = target.Clone();
        renewed.CredentialsJson = fresh;
        return await SendAsync(connector, renewed, cancellationToken);
    }

    private async Task<ConnectorResult> SendAsync(IConnector connector, ClaimedTarget target, CancellationToken cancellationToken)
    {
        try
        {
            var upload = Upload.From(target, (media, ct) => LeasedMediaStream.OpenAsync(targets, target, media.MediaId, ct));
            if (upload.Attempt > 1 && connector is IFindingConnector finder
                && await finder.FindEarlierAsync(upload, cancellationToken) is { } earlier)
            {
                // Found (an earlier attempt posted, its answer was lost), or the lookup failed: either way nothing is sent.
                Log.LookedUp(logger, target.TargetId, target.PostId, target.Platform, earlier is ConnectorResult.Published);
                return earlier is ConnectorResult.Failed failed ? failed with { OutcomeUnknown = false } : earlier;
            }

            long started = Stopwatch.GetTimestamp();
            var answer = await connector.PublishAsync(upload, cancellationToken);
            PublisherMetrics.PlatformAnswered(target.Platform, started);
            return answer;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.UploadInterrupted(logger, target.TargetId, target.PostId, target.Platform);
            return ConnectorResult.Unknown(ConnectorErrors.Interrupted,
                $"The publisher stopped while the upload to {target.Platform} was in flight.");
        }
        catch (Exception e)
        {
            // A connector maps every platform answer itself; anything else may have struck after the upload went out.
            Log.ConnectorFailed(logger, e, target.Platform, target.TargetId, target.PostId);
            return ConnectorResult.Unknown(ConnectorErrors.ConnectorFault, $"The upload to {target.Platform} failed unexpectedly: {e.Message}");
        }
    }

    /// <summary>
    /// docs/publishing.md#unknown-outcomes: an attempt whose outcome is unknown is retried under the same idempotency key where the platform
    /// honours one, or after looking the post up where its connector can (<see cref="IFindingConnector"/>); elsewhere a
    /// retry could post twice, so it ends as <see cref="ConnectorErrors.UnknownOutcome"/>.
    /// </summary>
    public static ConnectorResult Settle(ConnectorResult result, IConnector connector) => result switch
    {
        ConnectorResult.Failed { OutcomeUnknown: true } failed when !RetryIsSafe(connector) => new ConnectorResult.Failed(
            ConnectorErrors.UnknownOutcome, $"{failed.Message} It may or may not have been posted ({failed.Code}).", Retryable: false),
        _ => result,
    };

    private static bool RetryIsSafe(IConnector connector)
        => connector.Capabilities.SupportsIdempotencyKey || (connector.Capabilities.FindsLostPosts && connector is IFindingConnector);

    /// <summary>Waiting for the limits spends the lease; leave at least half of it for the upload (or the deletion).</summary>
    internal static TimeSpan MaxWait(TimeSpan configured, Timestamp? leaseExpiresAt, TimeProvider clock)
    {
        var wait = configured;
        if (leaseExpiresAt is { } expires)
        {
            var half = (expires.ToDateTimeOffset() - clock.GetUtcNow()) / 2;
            wait = half < wait ? half : wait;
        }

        return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
    }

    // Not cancelled with the message: the upload happened, so its outcome must reach the scheduling service even
    // while we shut down. Transient faults are retried here, because a redelivered message could not claim the
    // target again; if they outlast the retries, the lease expires and the scheduling service settles the target.
    private async Task CompleteAsync(ClaimedTarget target, ConnectorResult result)
    {
        var request = new CompleteTargetRequest { TargetId = target.TargetId, LeaseToken = target.LeaseToken };
        switch (result)
        {
            case ConnectorResult.Published published:
                request.Published = new TargetPublished { ExternalPostId = published.ExternalId, ExternalUrl = published.Url };
                break;
            case ConnectorResult.Failed failed:
                request.Failed = new TargetFailed
                {
                    ErrorCode = failed.Code,
                    ErrorMessage = failed.Message,
                    Retryable = failed.Retryable,
                    RetryAfter = failed.RetryAfter is { } after ? Duration.FromTimeSpan(after) : null,
                };
                break;
        }

        for (int attempt = 0; ; attempt++)
        {
            try
            {
                var response = await batcher.CompleteAsync(target.WorkspaceId, request);
                LogOutcome(target, result, response);
                return;
            }
            catch (RpcException e) when (IsTransient(e) && attempt < _options.CompleteRetries)
            {
                Log.ReportRetrying(logger, target.TargetId, e.StatusCode);
                await Task.Delay(_options.CompleteRetryDelay * Math.Pow(2, attempt), clock);
            }
            catch (RpcException e)
            {
                Log.ReportFailed(logger, e, target.TargetId, target.PostId, result);
                return;
            }
        }
    }

    private void LogOutcome(ClaimedTarget target, ConnectorResult result, CompleteTargetResponse response)
    {
        switch (result)
        {
            case ConnectorResult.Published published:
                Log.Published(logger, target.TargetId, target.PostId, target.Platform, published.ExternalId, response.TargetStatus, response.PostStatus);
                break;
            case ConnectorResult.Failed failed:
                Log.PublishFailed(logger, target.TargetId, target.PostId, target.Platform, failed.Code, failed.Message, failed.Retryable,
                    failed.RetryAfter, response.TargetStatus, response.PostStatus);
                break;
        }
    }

    public static bool IsTransient(RpcException e) => e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded;

    private DateTime Deadline() => _options.CallDeadline(clock);

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information,
            Message = "Target {TargetId} of post {PostId} (schedule version {ScheduleVersion}) was not claimed ({Reason}); dropping it")]
        public static partial void NotClaimed(ILogger logger, string targetId, string postId, long scheduleVersion, string reason);

        [LoggerMessage(EventId = 2, Level = LogLevel.Warning,
            Message = "The publisher stopped while target {TargetId} of post {PostId} was being uploaded to {Platform}")]
        public static partial void UploadInterrupted(ILogger logger, string targetId, string postId, string platform);

        [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "The {Platform} connector failed on target {TargetId} of post {PostId}")]
        public static partial void ConnectorFailed(ILogger logger, Exception exception, string platform, string targetId, string postId);

        [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Reporting the outcome of target {TargetId} failed ({StatusCode}); retrying")]
        public static partial void ReportRetrying(ILogger logger, string targetId, StatusCode statusCode);

        [LoggerMessage(EventId = 5, Level = LogLevel.Error,
            Message = "Could not report the outcome of target {TargetId} of post {PostId} ({Outcome}); the scheduling service will settle it when its lease expires")]
        public static partial void ReportFailed(ILogger logger, Exception exception, string targetId, string postId, ConnectorResult outcome);

        [LoggerMessage(EventId = 6, Level = LogLevel.Information,
            Message = "Published target {TargetId} of post {PostId} to {Platform} as {ExternalId}; target {TargetStatus}, post {PostStatus}")]
        public static partial void Published(ILogger logger, string targetId, string postId, string platform, string externalId, string targetStatus, string postStatus);

        [LoggerMessage(EventId = 7, Level = LogLevel.Warning,
            Message = "Publishing target {TargetId} of post {PostId} to {Platform} failed: {ErrorCode} {ErrorMessage} (retryable: {Retryable}, retry after: {RetryAfter}); target {TargetStatus}, post {PostStatus}")]
        public static partial void PublishFailed(ILogger logger, string targetId, string postId, string platform, string errorCode, string errorMessage,
            bool retryable, TimeSpan? retryAfter, string targetStatus, string postStatus);

        [LoggerMessage(EventId = 9, Level = LogLevel.Information,
            Message = "{Platform} refused the token of account {AccountId}; refreshed it, sending target {TargetId} once more")]
        public static partial void Refreshed(ILogger logger, string targetId, string platform, string accountId);

        [LoggerMessage(EventId = 8, Level = LogLevel.Information,
            Message = "Looked on {Platform} for what an earlier attempt of target {TargetId} of post {PostId} posted (found: {Found})")]
        public static partial void LookedUp(ILogger logger, string targetId, string postId, string platform, bool found);
    }
}
