using Grpc.Core;
using MassTransit;
using Microsoft.Extensions.Options;
using ScheduledPosts.Publisher.Publishing;

namespace ScheduledPosts.Publisher.Consumers;

public sealed class ConsumerOptions
{
    public const string Section = "Publisher";

    /// <summary>How many targets one replica uploads at once.</summary>
    public int ConcurrentMessageLimit { get; set; } = 128;

    /// <summary>
    /// On shutdown the bus stops taking messages at once; uploads in flight get this long to finish before they are
    /// cancelled and their targets handed back as retryable (docs/operations.md#graceful-shutdown).
    /// </summary>
    public TimeSpan UploadGracePeriod { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>The host's whole shutdown budget: the grace period, then reporting the outcomes.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

public sealed class TargetDueConsumerDefinition : ConsumerDefinition<TargetDueConsumer>
{
    private readonly int _limit;

    public TargetDueConsumerDefinition(IOptions<ConsumerOptions> options)
    {
        _limit = options.Value.ConcurrentMessageLimit;
        ConcurrentMessageLimit = _limit;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<TargetDueConsumer> consumerConfigurator, IRegistrationContext context)
    {
        // The broker hands over as many messages as the replica works on at once: with MassTransit's default prefetch
        // (far below the limit) the rest would wait in the queue, and a due target of another workspace behind them
        // (docs/publishing.md#fair-shares).
        endpointConfigurator.PrefetchCount = _limit;
        endpointConfigurator.ConcurrentMessageLimit = _limit;

        // Only a claim can fail this way (reporting retries on its own), and then nothing was uploaded: safe to
        // run again. Anything else is a bug and goes to the error queue.
        endpointConfigurator.UseMessageRetry(r =>
        {
            r.Handle<RpcException>(TargetPublisher.IsTransient);
            r.Intervals(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60));
        });
    }
}
