namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>
/// Records a domain event and fans it out to one delivery per subscribed endpoint; taking it twice changes nothing.
/// An event that fails <see cref="EventRules"/> is refused: nothing is recorded or sent, and the consumer that took it
/// from the bus faults, so it stays in that consumer's error queue.
/// </summary>
public sealed partial class EventIntake(DeliveryStore store, TimeProvider clock, ILogger<EventIntake> logger)
{
    public async Task AcceptAsync(IncomingEvent e, CancellationToken ct)
    {
        if (EventRules.Problem(e) is { } problem)
        {
            Log.Refused(logger, e.EventId, e.Type, problem);
            throw new RefusedEventException($"Event refused: {problem}.");
        }

        int? deliveries = await store.RecordEventAsync(e, WebhookPayload.Build(e), clock.GetUtcNow(), ct);
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
