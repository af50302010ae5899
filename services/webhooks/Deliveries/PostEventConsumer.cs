using MassTransit;
using ScheduledPosts.Contracts.Messages;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>
/// Every <see cref="PostEvent"/> kind, from the service's <c>webhooks-post-events</c> queue; a <see cref="PostEventBatch"/>'s
/// events each as if it had come alone (a redelivered batch finds those it recorded already recorded).
/// </summary>
public sealed class PostEventConsumer(EventIntake intake) : IConsumer<PostEvent>
{
    public Task Consume(ConsumeContext<PostEvent> context)
        => context.TryGetMessage<PostEventBatch>(out var batch)
            ? Task.WhenAll(batch.Message.Events.Select(e => intake.AcceptAsync(IncomingEvent.From(e), context.CancellationToken)))
            : intake.AcceptAsync(IncomingEvent.From(context.Message), context.CancellationToken);
}

public sealed class PostEventConsumerDefinition() : EventConsumerDefinition<PostEventConsumer>("webhooks-post-events");
