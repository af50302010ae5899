using ScheduledPosts.ServiceDefaults.Batching;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>
/// Records a domain event and fans it out to one delivery per subscribed endpoint; taking it twice changes nothing.
/// An event that fails <see cref="EventRules"/>, or puts a post or an account in another workspace, is refused: nothing
/// is recorded or sent, and the consumer that took it from the bus faults, so it stays in that consumer's error queue.
/// The events the consumers take at once are recorded together, many per statement (<see cref="DeliveryStore.RecordEventsAsync"/>):
/// a lone event goes at once; a burst shares its round trips and commits.
/// </summary>
public sealed partial class EventIntake : IDisposable
{
    /// <summary>Statements under way at once, and events per statement: enough that a burst of thousands goes in tens.</summary>
    private const int CallsInFlight = 2, MaxPerCall = 100;

    private readonly Batcher<(IncomingEvent Event, string Body), RecordedEvent> _batches;
    private readonly ILogger<EventIntake> _logger;

    public EventIntake(DeliveryStore store, TimeProvider clock, ILogger<EventIntake> logger)
    {
        _logger = logger;
        // Not cancelled by any one consumer: the statement is the batch's (Npgsql's command timeout bounds it).
        _batches = new(CallsInFlight, MaxPerCall, batch => store.RecordEventsAsync(batch, clock.GetUtcNow(), CancellationToken.None));
    }

    public async Task AcceptAsync(IncomingEvent e, CancellationToken ct)
    {
        if (EventRules.Problem(e) is { } problem)
        {
            Log.Refused(_logger, e.EventId, e.Type, problem);
            throw new RefusedEventException($"Event refused: {problem}.");
        }

        // Should the consumer give up waiting (the service stopping), the event may be recorded all the same: the bus
        // delivers it again, and taking it twice changes nothing.
        var recorded = await _batches.SendAsync(null, (e, WebhookPayload.Build(e))).WaitAsync(ct);
        if (recorded.Refusal is { } refusal)
        {
            Log.Refused(_logger, e.EventId, e.Type, refusal);
            throw new RefusedEventException($"Event refused: {refusal}.");
        }

        if (recorded.Deliveries is { } deliveries)
        {
            Log.Recorded(_logger, e.EventId, e.Type, e.WorkspaceId, deliveries);
        }
        else
        {
            Log.AlreadyRecorded(_logger, e.EventId, e.Type);
        }
    }

    public void Dispose() => _batches.Stop();

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Event {EventId} ({Type}) was already recorded")]
        public static partial void AlreadyRecorded(ILogger logger, string eventId, string type);

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Event {EventId} ({Type}) refused: {Problem}")]
        public static partial void Refused(ILogger logger, string eventId, string type, string problem);

        // Debug: one line per event would cost a burst more than recording it.
        [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Event {EventId} ({Type}) of {WorkspaceId}: {Count} deliveries")]
        public static partial void Recorded(ILogger logger, string eventId, string type, string workspaceId, int count);
    }
}
