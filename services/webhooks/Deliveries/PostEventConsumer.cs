using MassTransit;
using ScheduledPosts.Contracts.Messages;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>Every <see cref="PostEvent"/> kind, from the service's <c>webhooks-post-events</c> queue.</summary>
public sealed class PostEventConsumer(EventIntake intake) : IConsumer<PostEvent>
{
    public Task Consume(ConsumeContext<PostEvent> context) => intake.AcceptAsync(IncomingEvent.From(context.Message), context.CancellationToken);
}

public sealed class PostEventConsumerDefinition() : EventConsumerDefinition<PostEventConsumer>("webhooks-post-events");
