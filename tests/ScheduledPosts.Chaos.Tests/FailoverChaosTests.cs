using System.Diagnostics;
using ScheduledPosts.Testing;
using Xunit;
using Xunit.Abstractions;

namespace ScheduledPosts.Chaos.Tests;

/// <summary>
/// docs/operations.md, "Replicated PostgreSQL": the suite on a primary and its synchronous streaming standby, every service
/// given both hosts with <c>Target Session Attributes=primary</c>. The primary crashes (immediate shutdown) in the middle of
/// a burst and the standby is promoted: the services find the new primary by themselves, nothing committed before the
/// crash is lost, nothing is duplicated; their LISTEN connections are re-opened there, and a service started afterwards
/// (the dead primary first in its list) migrates and runs on the new primary. The pair runs only for this scenario; its
/// cleanup removes it.
/// </summary>
[Trait("Category", "Chaos")]
public sealed class FailoverChaosTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    // The dispatcher's listener runs nothing after its LISTEN; the webhook sender's names itself (and probes now and then).
    private const string Listening = """
        SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
          AND (query = 'LISTEN outbox_due' OR application_name = 'webhooks-listener')
        """;

    private const string Terminal = "SELECT id, status FROM scheduling.targets WHERE status IN ('published', 'cancelled', 'failed', 'skipped')";

    [Fact]
    public async Task PostgreSQL_primary_crashed_mid_burst_and_its_synchronous_standby_promoted()
    {
        await ChaosServers.EnsureRunningAsync();
        await ChaosServers.StartReplicaPairAsync();
        try
        {
            await RunAsync();
        }
        finally
        {
            await ChaosServers.StopReplicaPairAsync();
        }
    }

    private async Task RunAsync()
    {
        await using var system = await ChaosSystem.StartAsync(output, postgres: ChaosServers.ReplicaPair);
        var burst = await Burst.StartAsync(system);

        await burst.AQuarterPublishedAsync(system, Patience);
        long unsent = await system.CountAsync(ChaosTests.UnsentSoon);
        long unfinished = await system.CountAsync("SELECT count(*) FROM scheduling.targets WHERE status IN ('scheduled', 'publishing')");
        // What the primary has committed (and so told its clients) just before it goes: the outcomes that can no longer change.
        var settled = (await system.QueryAsync(Terminal, r => (Id: r.GetString(0), Status: r.GetString(1)))).ToDictionary(t => t.Id, t => t.Status);
        await ChaosServers.StopPrimaryAsync();
        int atStop = await burst.OnPlatformAsync(system);
        output.WriteLine($"crashed the primary with {unsent} outbox messages unsent, {unfinished} targets unfinished, {settled.Count} settled " +
            $"and {atStop} of {burst.TargetCount} on the platform");
        Assert.True(unsent > 0 && unfinished > 0 && atStop < burst.TargetCount, "the burst was over when the primary crashed; the scenario proves nothing");

        var promoting = Stopwatch.StartNew();
        await ChaosServers.PromoteStandbyAsync();
        await Eventually.Until(() => ChaosSystem.ReadyAsync(system["scheduling"].HealthUrl), ready => ready, Patience,
            "the scheduling service to find the promoted standby");
        output.WriteLine($"the scheduling service was ready on the new primary {promoting.Elapsed.TotalSeconds:0.0} s after the promotion began");
        // The LISTEN connections that wake the dispatcher and the webhook sender are open again, on the new primary.
        await Eventually.Until(() => system.CountAsync(Listening), n => n == 2, Patience, "the dispatcher's and the webhook sender's LISTEN connections on the new primary");
        // A service starting now finds the primary second in its list, and runs its migrations there.
        await system["webhooks"].KillAsync();
        await system["webhooks"].StartAsync();

        await Invariants.HoldAsync(system, burst);

        // Synchronous replication: every outcome the primary had committed is on the standby it failed over to.
        var now = (await system.QueryAsync(Terminal, r => (Id: r.GetString(0), Status: r.GetString(1)))).ToDictionary(t => t.Id, t => t.Status);
        var lost = settled.Where(t => now.GetValueOrDefault(t.Key) != t.Value).Select(t => $"{t.Key} {t.Value} → {now.GetValueOrDefault(t.Key) ?? "gone"}").ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} outcomes committed before the crash are not on the new primary: {string.Join(", ", lost.Take(10))}");
    }
}
