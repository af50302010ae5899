using MassTransit;
using ScheduledPosts.Contracts.Messages;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>
/// Records a domain event and fans it out to one delivery per subscribed endpoint; consuming it twice changes nothing.
/// An event that fails <see cref="PostEventRules"/> is refused: nothing is recorded or sent, and it stays in the error queue.
/// </summary>
public sealed partial class PostEventConsumer(DeliveryStore store, TimeProvider clock, ILogger<PostEventConsumer> logger) : IConsumer<PostEvent>
{
    public async Task Consume(ConsumeContext<PostEvent> context)
    {
        var e = context.Message;
        if (PostEventRules.Problem(e) is { } problem)
        {
            Log.Refused(logger, e.EventId, e.Type, problem);
            throw new RefusedPostEventException($"Event refused: {problem}.");
        }

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

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Event {EventId} ({Type}) refused: {Problem}")]
        public static partial void Refused(ILogger logger, string eventId, string type, string problem);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Event {EventId} ({Type}) of {WorkspaceId}: {Count} deliveries")]
        public static partial void Recorded(ILogger logger, string eventId, string type, string workspaceId, int count);
    }
}
