using ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Publisher.Connectors;

/// <summary>
/// Uploads a claimed target to one platform. A connector turns every answer of its platform, and every failure to
/// get one, into a <see cref="ConnectorResult"/>: only it knows whether a retry is safe (does the platform honour
/// the target's idempotency key?). It throws only when cancelled.
/// </summary>
public interface IConnector
{
    /// <summary>The platform name as the scheduling service spells it (<c>sandbox</c>, <c>mastodon</c>, …).</summary>
    string Platform { get; }

    Task<ConnectorResult> PublishAsync(ClaimedTarget target, CancellationToken cancellationToken);
}
