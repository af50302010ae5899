using ScheduledPosts.ServiceDefaults.Outbound;

namespace ScheduledPosts.Webhooks;

/// <summary>The <c>Webhooks</c> configuration section.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Webhooks";

    /// <summary>The service's PostgreSQL schema.</summary>
    public const string Schema = "webhooks";

    /// <summary>docs/api.md#delivery-and-retries: the retry delays after a failed attempt; one attempt more than there are delays.</summary>
    public static readonly IReadOnlyList<TimeSpan> DefaultRetrySchedule =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30),
        TimeSpan.FromHours(2), TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10),
    ];

    /// <summary>Accept <c>http://</c> endpoint URLs (development, tests). With the next two, the endpoints' <see cref="OutboundPolicy"/>.</summary>
    public bool AllowHttp { get; set; }

    /// <summary>Accept loopback targets (127.0.0.0/8, ::1): the dev stack's receivers. Shorthand for adding them to <see cref="AllowedNetworks"/>.</summary>
    public bool AllowLoopback { get; set; }

    /// <summary>
    /// The SSRF guard's allow-list: non-public networks (CIDR, e.g. <c>10.20.0.0/16</c>) endpoints may target anyway.
    /// Everything else that is not a public unicast address is refused, at create and again at send time.
    /// </summary>
    public string[] AllowedNetworks { get; set; } = [];

    /// <summary>The endpoints' <see cref="OutboundPolicy"/>: these settings, under the webhooks' own names.</summary>
    public OutboundOptions ToOutboundOptions() => new() { AllowHttp = AllowHttp, AllowLoopback = AllowLoopback, AllowedNetworks = AllowedNetworks };

    /// <summary>
    /// Overrides <see cref="DefaultRetrySchedule"/>. Null by default because the configuration binder appends
    /// configured items to an array that already has some.
    /// </summary>
    public TimeSpan[]? RetrySchedule { get; set; }

    public IReadOnlyList<TimeSpan> EffectiveRetrySchedule => RetrySchedule is { Length: > 0 } schedule ? schedule : DefaultRetrySchedule;

    /// <summary>An attempt without a 2xx within this time failed.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How many deliveries one replica sends at once, to all endpoints together (attempts are I/O, not CPU).</summary>
    public int MaxConcurrentDeliveries { get; set; } = 128;

    /// <summary>
    /// The most deliveries to one endpoint in flight at once (across replicas). Below it, each endpoint's limit is
    /// learned from its answers (<see cref="Deliveries.EndpointConcurrency"/>): it starts at
    /// <see cref="InitialConcurrentPerEndpoint"/>, grows while the endpoint answers well and in time, and halves when
    /// it fails to, down to one. So a slow or dead endpoint holds few of the <see cref="MaxConcurrentDeliveries"/>
    /// slots, and a fast one gets as many as it takes.
    /// </summary>
    public int MaxConcurrentPerEndpoint { get; set; } = 32;

    /// <summary>Where every endpoint's learned limit starts (at most <see cref="MaxConcurrentPerEndpoint"/>).</summary>
    public int InitialConcurrentPerEndpoint { get; set; } = 4;

    /// <summary>An answer slower than this, even a 2xx, says the endpoint is struggling: its limit halves.</summary>
    public TimeSpan SlowAnswerAfter { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How many deliveries to one workspace's endpoints are in flight at once (across replicas), so one workspace's
    /// slow or dead endpoints hold a share of the <see cref="MaxConcurrentDeliveries"/> slots, never all of them:
    /// by default a quarter of one replica's. Claims also take each workspace's oldest due delivery before any
    /// workspace's second.
    /// </summary>
    public int MaxConcurrentPerWorkspace { get; set; } = 32;

    /// <summary>How long a claimed delivery is held before another sender may claim it again (a crashed sender's work).</summary>
    public TimeSpan ClaimLease { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The longest the sender sleeps without a wake-up; a safety net under LISTEN/NOTIFY, not the mechanism.</summary>
    public TimeSpan MaxIdle { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>After a secret rotation, how long the previous secret keeps signing alongside the new one.</summary>
    public TimeSpan SecretRotationOverlap { get; set; } = TimeSpan.FromHours(24);

    /// <summary>An endpoint whose every attempt has failed for this long is disabled.</summary>
    public TimeSpan DisableAfterFailingFor { get; set; } = TimeSpan.FromDays(5);

    /// <summary>
    /// Base64 of 32 random bytes: the AES-256-GCM key that encrypts signing secrets at rest. Without it they are
    /// stored unencrypted (with a warning at start-up). Changing it makes the stored secrets unreadable.
    /// </summary>
    public string? SecretKey { get; set; }
}
