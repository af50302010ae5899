using System.Diagnostics.Metrics;

namespace ScheduledPosts.Scheduling.Watch;

/// <summary>
/// The lag a user would notice, as histograms in seconds: from a message's due time to the broker's confirm of it
/// (<c>scheduledposts_dispatch_lag_seconds</c>, by message type) and from a target's due time to the publisher's
/// claim of it (<c>scheduledposts_claim_lag_seconds</c>, by platform). docs/operations.md#metrics lists them all.
/// </summary>
public sealed class SchedulingMetrics
{
    public const string MeterName = "ScheduledPosts.Scheduling";

    /// <summary>From a few milliseconds to several minutes: where a scheduler's lag lives.</summary>
    public static readonly IReadOnlyList<double> LagBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

    private readonly Histogram<double> _dispatchLag;
    private readonly Histogram<double> _claimLag;

    public SchedulingMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        var advice = new InstrumentAdvice<double> { HistogramBucketBoundaries = LagBuckets };
        _dispatchLag = meter.CreateHistogram("scheduledposts.dispatch.lag", "s",
            "From a message's due time to the broker confirming it.", advice: advice);
        _claimLag = meter.CreateHistogram("scheduledposts.claim.lag", "s",
            "From a target's due time (or retry time) to the publisher's claim of it.", advice: advice);
    }

    public void Dispatched(string messageType, DateTimeOffset dueAt, DateTimeOffset now) =>
        _dispatchLag.Record(Seconds(dueAt, now), new KeyValuePair<string, object?>("message_type", messageType));

    public void Claimed(string platform, DateTimeOffset dueAt, DateTimeOffset now) =>
        _claimLag.Record(Seconds(dueAt, now), new KeyValuePair<string, object?>("platform", platform));

    // A message sent early (a clock step, a retry time in the past) counts as on time.
    private static double Seconds(DateTimeOffset dueAt, DateTimeOffset now) => Math.Max(0, (now - dueAt).TotalSeconds);
}
