using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Connectors;

namespace ScheduledPosts.Publisher.Publishing;

/// <summary>
/// Removes one published target's copy from its platform (unpublish, docs/publishing.md#unpublish), like a publish:
/// claim the removal from the scheduling service (a lease, renewed by <see cref="LeaseKeeper"/> while the deletion
/// runs), wait for the account's share of the publisher's own limits (<see cref="UploadLimits"/>: a deletion is a call on
/// the account's platform quota like an upload), delete through the platform's connector — once more with refreshed
/// credentials when the platform refused them (<see cref="CredentialRefresh"/>) — report. A removal that cannot
/// be claimed (done, no longer asked for, held by a live lease) is left alone, so a redelivered message is harmless;
/// deleting is idempotent, so an attempt whose outcome is unknown is reported as retryable.
/// </summary>
public sealed partial class TargetUnpublisher(
    Targets.TargetsClient targets,
    ConnectorRegistry connectors,
    UploadLimits limits,
    IOptions<SchedulingOptions> options,
    IOptions<UploadLimitsOptions> limitsOptions,
    TimeProvider clock,
    ILogger<TargetUnpublisher> logger)
{
    private readonly SchedulingOptions _options = options.Value;

    /// <summary>Returns the platform's answer (null: removed), or nothing when the removal was not claimed.</summary>
    /// <exception cref="RpcException">The claim failed; nothing was deleted, so the message may be retried.</exception>
    public async Task<(bool Claimed, ConnectorResult.Failed? Failure)> UnpublishAsync(TargetUnpublishDue due, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var claim = await targets.ClaimUnpublishAsync(new ClaimUnpublishRequest { PostId = due.PostId, TargetId = due.TargetId },
            deadline: Deadline(), cancellationToken: CancellationToken.None);
        if (!claim.Claimed)
        {
            Log.NotClaimed(logger, due.TargetId, due.PostId, claim.Reason);
            return (false, null);
        }

        var removal = claim.Removal;
        ConnectorResult.Failed? failure;
        await using (var lease = LeaseKeeper.Start(targets, removal, clock, _options.CallTimeout, logger))
        {
            // The deletion stops when the publisher stops, and when its claim is lost (another may be granted).
            using (var deletion = lease is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.Lost))
            {
                failure = await DeleteAsync(removal, deletion?.Token ?? cancellationToken);
            }

            // Still under the kept lease, as an upload's report is.
            lease?.Reporting();
            await CompleteAsync(removal, failure);
        }

        return (true, failure);
    }

    private async Task<ConnectorResult.Failed?> DeleteAsync(UnpublishClaim removal, CancellationToken cancellationToken)
    {
        if (connectors.Find(removal.Platform) is not IUnpublishingConnector connector)
        {
            return new ConnectorResult.Failed(ConnectorErrors.UnsupportedPlatform,
                $"The publisher cannot delete posts on the platform '{removal.Platform}'.", Retryable: false);
        }

        IDisposable? permit;
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            permit = await limits.AcquireAsync(removal.Platform, removal.AccountId,
                TargetPublisher.MaxWait(limitsOptions.Value.MaxWait, removal.LeaseExpiresAt, clock), cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new ConnectorResult.Failed(ConnectorErrors.PublisherStopping, "The publisher stopped before the deletion started; nothing was sent.", Retryable: true);
        }

        if (permit is null)
        {
            return new ConnectorResult.Failed(ConnectorErrors.PublisherBusy,
                $"The publisher's own limits for {removal.Platform} account {removal.AccountHandle} stayed full; nothing was sent.", Retryable: true);
        }

        using var held = permit;
        try
        {
            string credentials = removal.CredentialsJson is { Length: > 0 } stored ? stored : "{}";
            var failure = await connector.UnpublishAsync(Of(removal, credentials), cancellationToken);
            if (CredentialRefresh.Applies(failure, removal.Platform))
            {
                var (fresh, refusal) = await CredentialRefresh.RefreshAsync(targets,
                    new RefusedAccount(removal.TargetId, removal.LeaseToken, removal.Platform, removal.AccountHandle, credentials), failure!, Deadline(), cancellationToken);
                if (fresh is null)
                {
                    return refusal;
                }

                Log.Refreshed(logger, removal.TargetId, removal.Platform, removal.AccountId);
                failure = await connector.UnpublishAsync(Of(removal, fresh), cancellationToken);
            }

            // Deleting again is safe: an unknown outcome is only a failure worth retrying.
            return failure is { OutcomeUnknown: true } ? failure with { Retryable = true, OutcomeUnknown = false } : failure;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new ConnectorResult.Failed(ConnectorErrors.Interrupted, $"The deletion on {removal.Platform} was stopped: the publisher stopped, or the removal's lease was lost.", Retryable: true);
        }
        catch (Exception e)
        {
            Log.ConnectorFailed(logger, e, removal.Platform, removal.TargetId);
            return new ConnectorResult.Failed(ConnectorErrors.ConnectorFault, $"The deletion on {removal.Platform} failed unexpectedly: {e.Message}", Retryable: true);
        }
    }

    private static Removal Of(UnpublishClaim removal, string credentials)
        => new(removal.TargetId, removal.AccountHandle, credentials, removal.ExternalPostId, removal.Attempt);

    // Not cancelled with the message: the deletion happened (or not) and the scheduling service must hear which. If the
    // report outlasts its retries, the removal's lease runs out and the scheduling service sends it again.
    private async Task CompleteAsync(UnpublishClaim removal, ConnectorResult.Failed? failure)
    {
        var request = new CompleteUnpublishRequest { TargetId = removal.TargetId, LeaseToken = removal.LeaseToken };
        if (failure is not null)
        {
            request.Failed = new TargetFailed
            {
                ErrorCode = failure.Code,
                ErrorMessage = failure.Message,
                Retryable = failure.Retryable,
                RetryAfter = failure.RetryAfter is { } after ? Duration.FromTimeSpan(after) : null,
            };
        }

        for (int attempt = 0; ; attempt++)
        {
            try
            {
                var response = await targets.CompleteUnpublishAsync(request, deadline: Deadline());
                Log.Completed(logger, removal.TargetId, removal.PostId, removal.Platform, failure?.Code ?? "removed", response.TargetStatus);
                return;
            }
            catch (RpcException e) when (TargetPublisher.IsTransient(e) && attempt < _options.CompleteRetries)
            {
                await Task.Delay(_options.CompleteRetryDelay * Math.Pow(2, attempt), clock);
            }
            catch (RpcException e)
            {
                Log.ReportFailed(logger, e, removal.TargetId, removal.PostId);
                return;
            }
        }
    }

    private DateTime Deadline() => _options.CallDeadline(clock);

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "The removal of target {TargetId} of post {PostId} was not claimed ({Reason}); dropping it")]
        public static partial void NotClaimed(ILogger logger, string targetId, string postId, string reason);

        [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "The {Platform} connector failed deleting target {TargetId}")]
        public static partial void ConnectorFailed(ILogger logger, Exception exception, string platform, string targetId);

        [LoggerMessage(EventId = 3, Level = LogLevel.Information,
            Message = "Removal of target {TargetId} of post {PostId} from {Platform}: {Outcome}; target {TargetStatus}")]
        public static partial void Completed(ILogger logger, string targetId, string postId, string platform, string outcome, string targetStatus);

        [LoggerMessage(EventId = 4, Level = LogLevel.Error,
            Message = "Could not report the removal of target {TargetId} of post {PostId}; the scheduling service sends it again once its lease ran out")]
        public static partial void ReportFailed(ILogger logger, Exception exception, string targetId, string postId);

        [LoggerMessage(EventId = 5, Level = LogLevel.Information,
            Message = "{Platform} refused the token of account {AccountId}; refreshed it, deleting target {TargetId} once more")]
        public static partial void Refreshed(ILogger logger, string targetId, string platform, string accountId);
    }
}
