namespace ScheduledPosts.Webhooks.Deliveries;

public static class DeliveryStatus
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string Failed = "failed";
}

/// <summary>What follows an attempt: the delivery's new status, when it is tried next, and whether the endpoint is switched off.</summary>
public sealed record DeliveryDecision(string Status, DateTimeOffset? NextAttemptAt, bool DisableEndpoint = false);

/// <summary>The retry rules of SPEC §6, as a pure function.</summary>
public static class DeliveryRules
{
    /// <param name="statusCode">The response status, or null when there was none (timeout, connection error).</param>
    /// <param name="attempt">The number of the attempt just made, from 1.</param>
    /// <param name="retrySchedule">The delay before each retry; after the last one the delivery has failed.</param>
    public static DeliveryDecision Decide(int? statusCode, int attempt, IReadOnlyList<TimeSpan> retrySchedule, DateTimeOffset now)
    {
        if (statusCode is >= 200 and < 300)
        {
            return new DeliveryDecision(DeliveryStatus.Delivered, null);
        }

        if (statusCode == 410)
        {
            return new DeliveryDecision(DeliveryStatus.Failed, null, DisableEndpoint: true);
        }

        return attempt <= retrySchedule.Count
            ? new DeliveryDecision(DeliveryStatus.Pending, now + retrySchedule[attempt - 1])
            : new DeliveryDecision(DeliveryStatus.Failed, null);
    }
}
