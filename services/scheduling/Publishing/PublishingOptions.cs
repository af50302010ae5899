namespace ScheduledPosts.Scheduling.Publishing;

/// <summary>The claim protocol's settings, from the <c>Publishing</c> section (docs/publishing.md).</summary>
public sealed class PublishingOptions
{
    public const string Section = "Publishing";

    /// <summary>
    /// The key of the connection pool of the publishing path — the dispatcher, claims, renewals, reports and the reaper
    /// — apart from the API's (docs/publishing.md#fair-shares).
    /// </summary>
    public const string Pool = "publishing";

    /// <summary>
    /// How many connections the publishing path's own pool may open, beside the API's pool: a burst of API requests
    /// (one workspace's users cancelling hundreds of posts at their due time) can take every connection of that one,
    /// and a due target of another workspace must not wait behind it to be sent or claimed.
    /// </summary>
    public int PoolSize { get; set; } = 32;

    /// <summary>How long a claimed target is the publisher's before the claim counts as lost.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(2);

    public int MaxAttempts { get; set; } = 5;
    public TimeSpan RetryBase { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan RetryCap { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// After a claim expired on a platform that dedupes, how long before the target may be claimed again: long enough
    /// for any request the lost claim still had in flight to have ended (the connectors' timeouts are shorter), so two
    /// uploads of one target never race on the platform's idempotency check.
    /// </summary>
    public TimeSpan ExpiredClaimQuietPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// A target still waiting this long after it fell due, with no message for it pending or sent within this time, is
    /// sent again: its message never led to a claim (the publisher gave it up after its retries, or it was lost). Longer
    /// than the publisher's retries of one message (under 2 min), so a message still being retried is not doubled.
    /// </summary>
    public TimeSpan ResendUnclaimedAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often expired claims and unclaimed due targets are looked for.</summary>
    public TimeSpan ReaperInterval { get; set; } = TimeSpan.FromSeconds(5);
}
