using MassTransit;
using ScheduledPosts.Contracts.Messages;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>Records a domain event and fans it out to one delivery per subscribed endpoint; consuming it twice changes nothing.</summary>
public sealed partial class PostEventConsumer(DeliveryStore store, TimeProvider clock, ILogger<PostEventConsumer> logger) : IConsumer<PostEvent>
{
    public async Task Consume(ConsumeContext<PostEvent> context)
    {
        var e = context.Message;
        int? deliveries = await store.RecordEventAsync(e, WebhookPayload.Build(e), clock.GetUtcNow(), context.CancellationToken);
        if (deliveries is null)
        {
            Log.AlreadyRecorded(logger, e.EventId, e.Type);
        }
        else
        {
            Log.Recorded(logger, e.EventId, e.Type, e.WorkspaceId, deliveries.Value);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Event {EventId} ({Type}) was already recorded")]
        public static partial void AlreadyRecorded(ILogger logger, string eventId, string type);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Event {EventId} ({Type}) of {WorkspaceId}: {Count} deliveries")]
        public static partial void Recorded(ILogger logger, string eventId, string type, string workspaceId, int count);
    }
}
