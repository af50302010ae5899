using MassTransit;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Publisher.Publishing;

namespace ScheduledPosts.Publisher.Consumers;

public sealed class TargetDueConsumer(TargetPublisher publisher, PublisherStopping stopping) : IConsumer<TargetDue>
{
    // Not the message's token: see PublisherStopping.
    public Task Consume(ConsumeContext<TargetDue> context) => publisher.PublishAsync(context.Message, stopping.Token);
}
