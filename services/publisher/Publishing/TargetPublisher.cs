using Grpc.Core;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Connectors;

namespace ScheduledPosts.Publisher.Publishing;

/// <summary>
/// Publishes one due target (SPEC §5): claim it from the scheduling service, upload it through its platform's
/// connector, report the outcome. A target that cannot be claimed (cancelled, deleted, stale, already claimed)
/// is left alone: that is what makes a redelivered or outdated <see cref="TargetDue"/> harmless.
/// </summary>
public sealed class TargetPublisher(
    Targets.TargetsClient targets,
    ConnectorRegistry connectors,
    IOptions<SchedulingOptions> options,
    TimeProvider clock,
    ILogger<TargetPublisher> logger)
{
    private readonly SchedulingOptions _options = options.Value;

    /// <summary>Returns what the platform made of the upload, or null when the target was not claimed.</summary>
    /// <exception cref="RpcException">The claim failed; nothing was uploaded, so the message may be retried.</exception>
    public async Task<ConnectorResult?> PublishAsync(TargetDue due, CancellationToken cancellationToken)
    {
        var claim = await targets.ClaimTargetAsync(
            new ClaimTargetRequest { PostId = due.PostId, TargetId = due.TargetId, ScheduleVersion = due.ScheduleVersion },
            deadline: Deadline(), cancellationToken: cancellationToken);
        if (!claim.Claimed)
        {
            logger.LogInformation("Target {TargetId} of post {PostId} (schedule version {ScheduleVersion}) was not claimed ({Reason}); dropping it",
                due.TargetId, due.PostId, due.ScheduleVersion, claim.Reason);
            return null;
        }

        var target = claim.Target;
        var result = await UploadAsync(target, cancellationToken);
        await CompleteAsync(target, result);
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

        try
        {
            return await connector.PublishAsync(target, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A connector maps every platform answer itself; anything else may have struck after the upload went out.
            logger.LogError(e, "The {Platform} connector failed on target {TargetId} of post {PostId}", target.Platform, target.TargetId, target.PostId);
            return new ConnectorResult.Failed(ConnectorErrors.UnknownOutcome,
                $"The upload to {target.Platform} failed unexpectedly; it may or may not have been posted.", Retryable: false);
        }
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
                request.Failed = new TargetFailed { ErrorCode = failed.Code, ErrorMessage = failed.Message, Retryable = failed.Retryable };
                break;
        }

        for (int attempt = 0; ; attempt++)
        {
            try
            {
                var response = await targets.CompleteTargetAsync(request, deadline: Deadline());
                Log(target, result, response);
                return;
            }
            catch (RpcException e) when (IsTransient(e) && attempt < _options.CompleteRetries)
            {
                logger.LogWarning("Reporting the outcome of target {TargetId} failed ({StatusCode}); retrying", target.TargetId, e.StatusCode);
                await Task.Delay(_options.CompleteRetryDelay * Math.Pow(2, attempt), clock);
            }
            catch (RpcException e)
            {
                logger.LogError(e, "Could not report the outcome of target {TargetId} of post {PostId} ({Outcome}); the scheduling service will settle it when its lease expires",
                    target.TargetId, target.PostId, result);
                return;
            }
        }
    }

    private void Log(ClaimedTarget target, ConnectorResult result, CompleteTargetResponse response)
    {
        switch (result)
        {
            case ConnectorResult.Published published:
                logger.LogInformation("Published target {TargetId} of post {PostId} to {Platform} as {ExternalId}; target {TargetStatus}, post {PostStatus}",
                    target.TargetId, target.PostId, target.Platform, published.ExternalId, response.TargetStatus, response.PostStatus);
                break;
            case ConnectorResult.Failed failed:
                logger.LogWarning("Publishing target {TargetId} of post {PostId} to {Platform} failed: {ErrorCode} {ErrorMessage} (retryable: {Retryable}, retry after: {RetryAfter}); target {TargetStatus}, post {PostStatus}",
                    target.TargetId, target.PostId, target.Platform, failed.Code, failed.Message, failed.Retryable, failed.RetryAfter, response.TargetStatus, response.PostStatus);
                break;
        }
    }

    public static bool IsTransient(RpcException e) => e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded;

    private DateTime Deadline() => clock.GetUtcNow().UtcDateTime + _options.CallTimeout;
}
