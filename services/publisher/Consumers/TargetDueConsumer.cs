using MassTransit;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Publisher.Publishing;

namespace ScheduledPosts.Publisher.Consumers;

public sealed class TargetDueConsumer(TargetPublisher publisher) : IConsumer<TargetDue>
{
    public Task Consume(ConsumeContext<TargetDue> context) => publisher.PublishAsync(context.Message, context.CancellationToken);
}
