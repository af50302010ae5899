using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// The service watches itself (docs/operations.md#self-watch): a target due and not claimed within the threshold makes
/// <c>/readyz</c> say Degraded (still 200) and the overdue gauge rise; once it is claimed both recover, and the lag
/// histograms have the dispatch and the claim. This factory's probe stands in for a publisher that never claims.
/// </summary>
public sealed partial class SelfWatchTests(SelfWatchTests.QuickWatchFactory factory) : IClassFixture<SelfWatchTests.QuickWatchFactory>
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

    [GeneratedRegex(@"^(?<name>[a-z_]+)(\{(?<labels>[^}]*)\})? (?<value>\S+)", RegexOptions.Multiline)]
    private static partial Regex Sample();

    [Fact]
    public async Task A_target_nobody_claims_makes_readyz_degraded_and_the_overdue_gauge_rise_and_both_recover_once_it_is_claimed()
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
        await Eventually.Until(() => MetricsAsync(probe), m => Value(m, "scheduledposts_targets_overdue") == 1, Patience, "the overdue gauge to show it");
        await Eventually.Until(() => MetricsAsync(probe), m => Value(m, "scheduledposts_dispatch_lag_seconds_count", "message_type=\"TargetDue\"") == 1,
            Patience, "the dispatch to be in the lag histogram");

        var claim = await factory.TargetsClient().ClaimTargetAsync(new ClaimTargetRequest { PostId = post["id"]!.GetValue<string>(), TargetId = targetId, ScheduleVersion = 1 });
        Assert.True(claim.Claimed, claim.Reason);

        var recovered = await Eventually.Until(() => ReadyAsync(probe), r => r.Body["status"]!.GetValue<string>() == "Healthy", Patience, "readyz to recover");
        Assert.Equal(HttpStatusCode.OK, recovered.Status);
        var metrics = await Eventually.Until(() => MetricsAsync(probe), m => Value(m, "scheduledposts_targets_overdue") == 0, Patience, "the overdue gauge to fall");
        Assert.Equal(1, Value(metrics, "scheduledposts_claim_lag_seconds_count", "platform=\"sandbox\""));
        Assert.Equal(1, Value(metrics, "scheduledposts_targets", "status=\"publishing\""));
    }

    /// <summary>Overdue, and every other check (database, broker) healthy: what the answer's status code is then is the point.</summary>
    private static bool OnlyOverdue((HttpStatusCode Status, JsonObject Body) ready) => ready.Body["checks"]!.AsObject().All(c =>
        c.Value!["status"]!.GetValue<string>() == (c.Key == "overdue" ? "Degraded" : "Healthy"));

    private static async Task<(HttpStatusCode Status, JsonObject Body)> ReadyAsync(HttpClient probe)
    {
        var response = await probe.GetAsync("/readyz");
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    private static async Task<string> MetricsAsync(HttpClient probe) => await probe.GetStringAsync("/metrics");

    /// <summary>The value of the sample <paramref name="name"/> whose labels contain <paramref name="label"/>; NaN when there is none.</summary>
    private static double Value(string metrics, string name, string? label = null) => Sample().Matches(metrics)
        .Where(m => m.Groups["name"].Value == name && (label is null || m.Groups["labels"].Value.Contains(label, StringComparison.Ordinal)))
        .Select(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture))
        .DefaultIfEmpty(double.NaN).First();
}
