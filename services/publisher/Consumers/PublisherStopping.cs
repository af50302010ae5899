using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace ScheduledPosts.Publisher.Consumers;

/// <summary>
/// When the uploads and deletions in flight must give up: <see cref="ConsumerOptions.UploadGracePeriod"/> after the host
/// begins to stop (docs/operations.md#graceful-shutdown), and not before.
/// </summary>
/// <remarks>
/// The consumers pass this, not their message's own token, to the work they start. MassTransit cancels a message's token
/// as soon as the channel it came on closes: one broker node lost, or a connection dropped for a moment. Once a target is
/// claimed its upload no longer depends on that message (a redelivered copy is refused at the claim), so cutting the
/// upload short would only turn a broker hiccup into an interrupted attempt: a retry later, or, on a platform that can
/// neither dedupe nor look a post up, a target failed as UNKNOWN_OUTCOME.
/// </remarks>
public sealed class PublisherStopping : IDisposable
{
    private readonly CancellationTokenSource _stopping;
    private readonly CancellationTokenRegistration _registration;

    public PublisherStopping(IHostApplicationLifetime lifetime, IOptions<ConsumerOptions> options, TimeProvider clock)
    {
        _stopping = new CancellationTokenSource(Timeout.InfiniteTimeSpan, clock);
        var grace = options.Value.UploadGracePeriod;
        _registration = lifetime.ApplicationStopping.Register(() => _stopping.CancelAfter(grace));
    }

    /// <summary>Cancelled once the grace period after the start of the shutdown has run out.</summary>
    public CancellationToken Token => _stopping.Token;

    public void Dispose()
    {
        _registration.Dispose();
        _stopping.Dispose();
    }
}
