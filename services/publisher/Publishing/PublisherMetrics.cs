using System.Diagnostics;
using System.Diagnostics.Metrics;
using ScheduledPosts.Publisher.Connectors;

namespace ScheduledPosts.Publisher.Publishing;

/// <summary>
/// What the publisher did with each claimed target, on <c>/metrics</c> (docs/operations.md#metrics): attempts by
/// platform and outcome (<c>published</c>, or the error code a failure ended with), and how long the platform took to
/// answer a publish. Labels are platforms and error codes only, never a workspace or an account.
/// </summary>
public static class PublisherMetrics
{
    public const string MeterName = "ScheduledPosts.Publisher";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Attempts = Meter.CreateCounter<long>("scheduledposts.publish.attempts", "{attempt}",
        "Publish attempts of claimed targets, by platform and outcome.");

    private static readonly Histogram<double> PlatformDuration = Meter.CreateHistogram("scheduledposts.platform.duration", "s",
        "How long a platform took to take a post (media uploads included), by platform.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] });

    public static void Attempted(string platform, ConnectorResult result) => Attempts.Add(1,
        new KeyValuePair<string, object?>("platform", platform),
        new KeyValuePair<string, object?>("outcome", result is ConnectorResult.Failed failed ? failed.Code : "published"));

    public static void PlatformAnswered(string platform, long startedTimestamp) =>
        PlatformDuration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds, new KeyValuePair<string, object?>("platform", platform));
}
