using ScheduledPosts.Benchmarks.Reporting;
using ScheduledPosts.Benchmarks.Stack;

namespace ScheduledPosts.Benchmarks.Scenarios;

/// <summary>How fast a burst of work due at one instant is started: ours, or a peer's.</summary>
public sealed record BurstResult(Distribution? Lag, int N, double? AllStartedMs)
{
    public double? PerSecond => AllStartedMs is > 0 ? N / (AllStartedMs.Value / 1000) : null;
}

/// <summary>
/// Scenario 2: N single-target posts (spread over 100 sandbox accounts) all due at the same instant D, the sandbox
/// platform answering at once. Measures, from D: each target's claim (targets.last_attempt_at), the last claim (= all
/// claimed), and each post's arrival on the platform (receivedAt of GET /sandbox/statuses). Also every service's
/// resident memory: idle after start-up and a warm-up post, and the highest 100 ms sample during the burst; and the CPU
/// time every process of the stack spent from D until the burst's events were handled, per published target.
/// </summary>
public static class BurstScenario
{
    public const string Name = "burst";

    public static async Task<BurstResult> RunAsync(Sizes sizes, Report report, StackSource stacks)
    {
        int n = sizes.BurstTargets;
        await using var lease = await stacks.GetAsync(Name);
        var stack = lease.Stack;
        int accountCount = Math.Min(100, Math.Max(1, n / 50));
        var accounts = new string[accountCount];
        for (int i = 0; i < accountCount; i++)
        {
            accounts[i] = await stack.ConnectSandboxAccountAsync($"burst{i}");
        }

        await stack.WarmUpAsync(accounts[0]);
        await Task.Delay(TimeSpan.FromSeconds(2));
        var idle = stack.Memory();
        double rate = await stack.MeasureCreateRateAsync(accounts[0], Math.Clamp(n / 20, 20, 200));

        var due = DateTimeOffset.UtcNow + Plan.SetupTime(n, rate, sizes);
        Log.Step($"  creating {n:N0} posts due at {due:HH:mm:ss.fff} (creates at {rate:0}/s)");
        string[] ids = await stack.CreatePostsAsync(n, i => ($"burst {i}", [accounts[i % accountCount]], due));
        Plan.CheckSetupFinished(report, Name, due);
        Log.Step("  created; waiting for the burst");

        IReadOnlyDictionary<string, double> peaks;
        bool done;
        var countersBefore = sizes.Profile ? await Profiling.DatabaseCountersAsync(stack.Postgres) : null;
        // The CPU is counted from D: the idle wait for it, which varies with how fast the posts were created, is not the burst's.
        if (due - DateTimeOffset.UtcNow is { Ticks: > 0 } untilDue)
        {
            await Task.Delay(untilDue);
        }

        await using var cpu = await CpuTime.Watch.StartAsync(stack);
        await using (var profiling = sizes.Profile ? Profiling.Start(stack.Suite, TimeSpan.FromSeconds(n / 100.0 + 10)) : null)
        await using (var sampler = new ResidentMemory.Sampler(stack.Suite.Services, TimeSpan.FromMilliseconds(100)))
        {
            done = await stack.WaitForAsync(ids, (due - DateTimeOffset.UtcNow) + sizes.Patience,
                p => p.Published + p.Failed == n, "every burst post to publish", TimeSpan.FromMilliseconds(250));
            peaks = sampler.Peaks;
            Log.Step("  burst done");
        }

        // The events the burst emitted (post.publishing, target.published, post.published) are part of its cost.
        await stack.WaitQuiescentAsync(sizes.Patience);
        var cpuTo = await cpu.TakeAsync();

        if (countersBefore is not null)
        {
            report.Notes.Add(Profiling.Describe(countersBefore, await Profiling.DatabaseCountersAsync(stack.Postgres), n));
        }

        var end = stack.Memory();
        var claims = await stack.ClaimsAsync(ids);
        int published = claims.Count(c => c.Status == "published");
        var (cpuPerTarget, cpuLine) = CpuTime.Describe(cpu.From, cpuTo, published, "published target");
        report.Notes.Add("burst: " + cpuLine);
        var lag = Plan.CheckClaims(report, Name, claims, n, done);
        double? allClaimed = claims.Count > 0 && claims.All(c => c.LastAttemptAt is not null) ? claims.Max(c => c.LagMs) : null;

        var onPlatform = (await stack.SandboxStatusesAsync()).Where(s => s.Status.StartsWith("burst ", StringComparison.Ordinal)).ToList();
        int duplicates = onPlatform.Count - onPlatform.Select(s => (s.Account, s.Status)).Distinct().Count();
        if (duplicates > 0)
        {
            report.Errors.Add($"{Name}: {duplicates} posts reached the platform twice");
        }

        var arrival = Distribution.Of(onPlatform.Select(s => (s.ReceivedAt - due).TotalMilliseconds));
        double? allOnPlatform = onPlatform.Count == n ? arrival?.Max : null;

        var result = new BurstResult(lag, n, allClaimed);
        report.Rows.Add(new Row(Name, $"due → claimed ({n:N0} targets due at one instant; max = all claimed)", lag?.Count ?? 0, lag,
            Report.PerSecond(result.PerSecond, "claims"), "all claimed ≤ 2 s", Report.AtMost(allClaimed, 2000)));
        report.Rows.Add(new Row(Name, "due → on the sandbox platform (latency 0; max = all published)", onPlatform.Count, arrival,
            Report.PerSecond(allOnPlatform is > 0 ? n / (allOnPlatform.Value / 1000) : null, "posts")));
        report.Rows.Add(new Row(Name, "CPU per published target, all processes (the services, PostgreSQL's backends, RabbitMQ), until its events were handled",
            published, null, $"{cpuPerTarget.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)} CPU ms/target"));

        foreach (var service in stack.Suite.Services)
        {
            if (idle.TryGetValue(service.Name, out var before) && end.TryGetValue(service.Name, out var after))
            {
                report.Memory.Add(new MemoryRow(service.Name, before.RssMb, peaks.TryGetValue(service.Name, out double peak) ? peak : null, after.HighWaterMb));
            }
        }

        return result;
    }
}
