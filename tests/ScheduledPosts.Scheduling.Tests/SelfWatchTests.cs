using System.Net;
using System.Text.Json.Nodes;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// The service watches itself (docs/operations.md#self-watch): a target due and not claimed within the threshold makes
/// <c>/readyz</c> say Degraded (still 200) with its count; once it is claimed it recovers; <c>/metrics</c> serves the
/// gauges and the lag histograms. This factory's probe stands in for a publisher that never claims.
/// </summary>
public sealed class SelfWatchTests(SelfWatchTests.QuickWatchFactory factory) : IClassFixture<SelfWatchTests.QuickWatchFactory>
{
    public sealed class QuickWatchFactory : SchedulingFactory
    {
        protected override void Configure(Dictionary<string, string> settings)
        {
            settings["Watch:OverdueAfter"] = "00:00:01";
            settings["Watch:Interval"] = "00:00:00.100";
        }
    }

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_target_nobody_claims_makes_readyz_say_degraded_with_its_count_and_it_recovers_once_the_target_is_claimed()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client);
        var post = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow);
        string targetId = post["targets"]![0]!["id"]!.GetValue<string>();
        var probe = factory.CreateClient();

        var degraded = await Eventually.Until(() => ReadyAsync(probe), OnlyOverdue,
            Patience, "readyz to say the target is overdue");
        // Overdue alone: 200, the answer Degraded (a broker still connecting would be a 503, not ready).
        Assert.Equal(HttpStatusCode.OK, degraded.Status);
        Assert.Equal("Degraded", degraded.Body["status"]!.GetValue<string>());
        var overdue = degraded.Body["checks"]!["overdue"]!;
        Assert.Equal("Degraded", overdue["status"]!.GetValue<string>());
        Assert.Equal(1, overdue["data"]!["overdueTargets"]!.GetValue<long>());
        Assert.True(overdue["data"]!["oldestOverdueSeconds"]!.GetValue<double>() >= 1);
        Assert.Equal("Healthy", degraded.Body["checks"]!["postgres"]!["status"]!.GetValue<string>());
        // Its metrics are asserted end to end (MonitoringTests), where each service is a process of its own: in one test
        // process every host's OpenTelemetry listener also sees the instruments of the other hosts (the same names), so
        // a host's /metrics here may show another's values, or none.
        var metrics = await probe.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Contains("# TYPE ", await metrics.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var claim = await factory.TargetsClient().ClaimTargetAsync(new ClaimTargetRequest { PostId = post["id"]!.GetValue<string>(), TargetId = targetId, ScheduleVersion = 1 });
        Assert.True(claim.Claimed, claim.Reason);

        var recovered = await Eventually.Until(() => ReadyAsync(probe), r => r.Body["status"]!.GetValue<string>() == "Healthy", Patience, "readyz to recover");
        Assert.Equal(HttpStatusCode.OK, recovered.Status);
        Assert.Equal(0, recovered.Body["checks"]!["overdue"]!["data"]!["overdueTargets"]!.GetValue<long>());
    }

    /// <summary>Overdue, and every other check (database, broker) healthy: what the answer's status code is then is the point.</summary>
    private static bool OnlyOverdue((HttpStatusCode Status, JsonObject Body) ready) => ready.Body["checks"]!.AsObject().All(c =>
        c.Value!["status"]!.GetValue<string>() == (c.Key == "overdue" ? "Degraded" : "Healthy"));

    private static async Task<(HttpStatusCode Status, JsonObject Body)> ReadyAsync(HttpClient probe)
    {
        var response = await probe.GetAsync("/readyz");
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }
}
