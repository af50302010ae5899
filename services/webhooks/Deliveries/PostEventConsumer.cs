using MassTransit;
using ScheduledPosts.Contracts.Messages;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>Records a domain event and fans it out to one delivery per subscribed endpoint; consuming it twice changes nothing.</summary>
public sealed class PostEventConsumer(DeliveryStore store, TimeProvider clock, ILogger<PostEventConsumer> logger) : IConsumer<PostEvent>
{
    public async Task Consume(ConsumeContext<PostEvent> context)
    {
        var e = context.Message;
        int? deliveries = await store.RecordEventAsync(e, WebhookPayload.Build(e), clock.GetUtcNow(), context.CancellationToken);
        if (deliveries is null)
        {
            logger.LogInformation("Event {EventId} ({Type}) was already recorded", e.EventId, e.Type);
        }
        else
        {
            logger.LogInformation("Event {EventId} ({Type}) of {WorkspaceId}: {Count} deliveries", e.EventId, e.Type, e.WorkspaceId, deliveries);
        }
    }
}
