using MassTransit;
using ScheduledPosts.Contracts.Messages;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>Every <see cref="AccountEvent"/> kind, from the service's <c>webhooks-account-events</c> queue.</summary>
public sealed class AccountEventConsumer(EventIntake intake) : IConsumer<AccountEvent>
{
    public Task Consume(ConsumeContext<AccountEvent> context) => intake.AcceptAsync(IncomingEvent.From(context.Message), context.CancellationToken);
}

public sealed class AccountEventConsumerDefinition() : EventConsumerDefinition<AccountEventConsumer>("webhooks-account-events");
