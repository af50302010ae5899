namespace ScheduledPosts.Webhooks;

/// <summary>The <c>Webhooks</c> configuration section.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Webhooks";

    /// <summary>The service's PostgreSQL schema.</summary>
    public const string Schema = "webhooks";

    /// <summary>SPEC §6: the retry delays after a failed attempt; one attempt more than there are delays.</summary>
    public static readonly IReadOnlyList<TimeSpan> DefaultRetrySchedule =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30),
        TimeSpan.FromHours(2), TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10),
    ];

    /// <summary>Accept <c>http://</c> endpoint URLs (development, tests).</summary>
    public bool AllowHttp { get; set; }

    /// <summary>Accept loopback, private and link-local targets (development, tests).</summary>
    public bool AllowLoopback { get; set; }

    /// <summary>
    /// Overrides <see cref="DefaultRetrySchedule"/>. Null by default because the configuration binder appends
    /// configured items to an array that already has some.
    /// </summary>
    public TimeSpan[]? RetrySchedule { get; set; }

    public IReadOnlyList<TimeSpan> EffectiveRetrySchedule => RetrySchedule is { Length: > 0 } schedule ? schedule : DefaultRetrySchedule;

    /// <summary>An attempt without a 2xx within this time failed.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How many deliveries one replica sends at once.</summary>
    public int MaxConcurrentDeliveries { get; set; } = 16;

    /// <summary>How long a claimed delivery is held before another sender may claim it again (a crashed sender's work).</summary>
    public TimeSpan ClaimLease { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The longest the sender sleeps without a wake-up; a safety net under LISTEN/NOTIFY, not the mechanism.</summary>
    public TimeSpan MaxIdle { get; set; } = TimeSpan.FromMinutes(1);
}
