namespace ScheduledPosts.Benchmarks;

/// <summary>
/// How big each scenario is: the figures, or small ones (<c>--quick</c>) so CI runs the program on every change;
/// <see cref="Profile"/> (<c>--profile</c>) adds CPU traces and database counters to the burst.
/// </summary>
public sealed record Sizes(
    int PrecisionPosts,
    TimeSpan PrecisionWindow,
    int BurstTargets,
    int ApiClients,
    TimeSpan ApiDuration,
    TimeSpan ApiCreateOnlyDuration,
    int WebhookEvents,
    int SlowEndpointEvents,
    int FanOutEndpoints,
    int FanOutEvents,
    double WebhookOfferedPerSecond,
    TimeSpan Patience,
    TimeSpan MaxSetup,
    bool Profile = false)
{
    public static readonly Sizes Full = new(
        PrecisionPosts: 1_000, PrecisionWindow: TimeSpan.FromSeconds(30),
        BurstTargets: 10_000,
        ApiClients: 64, ApiDuration: TimeSpan.FromSeconds(30), ApiCreateOnlyDuration: TimeSpan.FromSeconds(10),
        WebhookEvents: 10_000, SlowEndpointEvents: 5_000, FanOutEndpoints: 100, FanOutEvents: 100, WebhookOfferedPerSecond: 1_000,
        Patience: TimeSpan.FromMinutes(5), MaxSetup: TimeSpan.FromMinutes(3));

    public static readonly Sizes Quick = new(
        PrecisionPosts: 50, PrecisionWindow: TimeSpan.FromSeconds(5),
        BurstTargets: 500,
        ApiClients: 8, ApiDuration: TimeSpan.FromSeconds(5), ApiCreateOnlyDuration: TimeSpan.FromSeconds(2),
        WebhookEvents: 200, SlowEndpointEvents: 100, FanOutEndpoints: 5, FanOutEvents: 40, WebhookOfferedPerSecond: 200,
        Patience: TimeSpan.FromSeconds(60), MaxSetup: TimeSpan.FromSeconds(20));
}
