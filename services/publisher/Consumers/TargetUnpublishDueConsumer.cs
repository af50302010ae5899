using Grpc.Core;
using MassTransit;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Publisher.Publishing;

namespace ScheduledPosts.Publisher.Consumers;

public sealed class TargetUnpublishDueConsumer(TargetUnpublisher unpublisher, PublisherStopping stopping) : IConsumer<TargetUnpublishDue>
{
    // Not the message's token: see PublisherStopping.
    public Task Consume(ConsumeContext<TargetUnpublishDue> context) => unpublisher.UnpublishAsync(context.Message, stopping.Token);
}

public sealed class TargetUnpublishDueConsumerDefinition : ConsumerDefinition<TargetUnpublishDueConsumer>
{
    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<TargetUnpublishDueConsumer> consumerConfigurator, IRegistrationContext context)
    {
        // Only a claim fails this way (reporting retries on its own), and then nothing was deleted: safe to run again.
        endpointConfigurator.UseMessageRetry(r =>
        {
            r.Handle<RpcException>(TargetPublisher.IsTransient);
            r.Intervals(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60));
        });
    }
}
