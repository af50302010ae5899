using System.Diagnostics;
using ScheduledPosts.Benchmarks.Peers;
using ScheduledPosts.Benchmarks.Reporting;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Benchmarks.Scenarios;

/// <summary>
/// Scenario 5: scenarios 1 and 2 again with Hangfire and Quartz.NET, in this process, each run on a fresh database of
/// the same PostgreSQL server (nothing else of ours running meanwhile). Same sizes, same due-time plan, same random
/// instants; a peer's lag = its job's execution start − the job's scheduled time. Our figures come from this run's
/// own <see cref="PrecisionScenario"/> and <see cref="BurstScenario"/>, never from an earlier one.
/// </summary>
public static class PeersScenario
{
    public const string Name = "peers";

    private static readonly (string Name, Func<string, Task<IPeerScheduler>> Start)[] Peers =
    [
        ("Hangfire", connectionString => Task.FromResult<IPeerScheduler>(HangfirePeer.Start(connectionString))),
        ("Quartz.NET", async connectionString => await QuartzPeer.StartAsync(connectionString)),
    ];

    /// <summary>Runs both peers and adds their rows; returns each peer's burst (null where it failed), for <c>--assert-ratios</c>.</summary>
    public static async Task<IReadOnlyDictionary<string, BurstResult?>> RunAsync(Sizes sizes, Report report, LagResult ours, BurstResult oursBurst)
    {
        var precision = new Dictionary<string, LagResult?>();
        var burst = new Dictionary<string, BurstResult?>();
        foreach (var (name, start) in Peers)
        {
            Log.Step($"  {name}: precision");
            precision[name] = await RunGuardedAsync(report, name, "precision", () => PrecisionAsync(start, sizes, report));
            Log.Step($"  {name}: burst");
            burst[name] = await RunGuardedAsync(report, name, "burst", () => BurstAsync(start, sizes, report));
        }

        // A run that left jobs unstarted has no honest percentiles: its column stays blank (the main table and the errors say why).
        Distribution? Usable(LagResult? result) => result is { Complete: true } ? result.Lag : null;
        if (!ours.Complete)
        {
            report.Notes.Add($"peers: our precision run claimed only {ours.Started:N0} of {ours.N:N0} posts, so its column is blank rather than computed from the ones that made it");
        }

        foreach (var (measure, pick) in new (string, Func<Distribution, double>)[]
                 { ("p50 lag", d => d.P50), ("p95 lag", d => d.P95), ("p99 lag", d => d.P99), ("max lag", d => d.Max) })
        {
            report.Peers.Add(new PeerRow("precision", $"{measure} ({ours.N:N0} jobs over {sizes.PrecisionWindow.TotalSeconds:0} s)", "ms", LowerIsBetter: true,
                Pick(Usable(ours), pick), Pick(Usable(precision["Hangfire"]), pick), Pick(Usable(precision["Quartz.NET"]), pick)));
        }

        report.Peers.Add(new PeerRow("burst", $"p50 lag ({oursBurst.N:N0} jobs due at one instant)", "ms", LowerIsBetter: true,
            oursBurst.Lag?.P50, burst["Hangfire"]?.Lag?.P50, burst["Quartz.NET"]?.Lag?.P50));
        report.Peers.Add(new PeerRow("burst", "all started (ours: all claimed)", "ms", LowerIsBetter: true,
            oursBurst.AllStartedMs, burst["Hangfire"]?.AllStartedMs, burst["Quartz.NET"]?.AllStartedMs));
        report.Peers.Add(new PeerRow("burst", "started per second", "/s", LowerIsBetter: false,
            oursBurst.PerSecond, burst["Hangfire"]?.PerSecond, burst["Quartz.NET"]?.PerSecond));
        return burst;
    }

    private static double? Pick(Distribution? distribution, Func<Distribution, double> pick) => distribution is null ? null : pick(distribution);

    private static async Task<T?> RunGuardedAsync<T>(Report report, string peer, string scenario, Func<Task<T>> run) where T : class
    {
        try
        {
            return await run();
        }
        catch (Exception e)
        {
            report.Errors.Add($"{Name}: {peer} {scenario} failed: {e.GetType().Name}: {e.Message}");
            return null;
        }
    }

    // A peer's first writes may stall while its server starts up: 50 Hangfire jobs once took 5.6 s to schedule on two
    // cores against a measured 139/s, past a 3 s margin, which made the run invalid.
    private static readonly TimeSpan PeerSetupMargin = TimeSpan.FromSeconds(8);

    private static async Task<LagResult> PrecisionAsync(Func<string, Task<IPeerScheduler>> start, Sizes sizes, Report report)
    {
        int n = sizes.PrecisionPosts;
        // Declared first, so the peer stops before its database is dropped.
        await using var resources = new TestResources();
        await using var peer = await StartAsync(start, report, resources);
        double rate = await MeasureScheduleRateAsync(peer, Math.Clamp(n / 10, 20, 200));
        var windowStart = DateTimeOffset.UtcNow + Plan.SetupTime(n, rate, sizes, PeerSetupMargin);
        var random = new Random(20261101);
        string run = Guid.NewGuid().ToString("N")[..8];
        var jobs = Enumerable.Range(0, n).Select(i => ($"precision-{run}-{i}", windowStart + sizes.PrecisionWindow * random.NextDouble())).ToList();
        Log.Step($"    scheduling {n:N0} jobs ({rate:0}/s)");
        await peer.ScheduleAsync(jobs);
        Plan.CheckSetupFinished(report, $"{Name} ({peer.Name} precision)", windowStart);
        Log.Step("    scheduled; waiting");
        await WaitAsync(jobs, (windowStart - DateTimeOffset.UtcNow) + sizes.PrecisionWindow + sizes.Patience);
        var lag = Lags(report, peer.Name, "precision", jobs);
        return new LagResult(lag, n, lag?.Count ?? 0);
    }

    private static async Task<BurstResult> BurstAsync(Func<string, Task<IPeerScheduler>> start, Sizes sizes, Report report)
    {
        int n = sizes.BurstTargets;
        // Declared first, so the peer stops before its database is dropped.
        await using var resources = new TestResources();
        await using var peer = await StartAsync(start, report, resources);
        // A larger sample than for precision: scheduling slows as a peer's tables fill.
        double rate = await MeasureScheduleRateAsync(peer, Math.Clamp(n / 10, 20, 1000));
        var due = DateTimeOffset.UtcNow + Plan.SetupTime(n, rate, sizes, PeerSetupMargin);
        string run = Guid.NewGuid().ToString("N")[..8];
        var jobs = Enumerable.Range(0, n).Select(i => ($"burst-{run}-{i}", due)).ToList();
        Log.Step($"    scheduling {n:N0} jobs ({rate:0}/s)");
        await peer.ScheduleAsync(jobs);
        Plan.CheckSetupFinished(report, $"{Name} ({peer.Name} burst)", due);
        Log.Step("    scheduled; waiting");
        bool all = await WaitAsync(jobs, (due - DateTimeOffset.UtcNow) + sizes.Patience);
        var lag = Lags(report, peer.Name, "burst", jobs);
        return new BurstResult(lag, n, all ? lag?.Max : null);
    }

    private static async Task<IPeerScheduler> StartAsync(Func<string, Task<IPeerScheduler>> start, Report report, TestResources resources)
    {
        var peer = await start(await resources.CreateDatabaseAsync());
        Log.Step($"    {peer.Name} started");
        if (!report.Notes.Contains(peer.Settings))
        {
            report.Notes.Add(peer.Settings);
        }

        // As for ours: a few jobs first, so every path has run once.
        var warmUp = Enumerable.Range(0, 8).Select(i => ($"warm-up-{Guid.NewGuid():N}", DateTimeOffset.UtcNow.AddMilliseconds(500))).ToList();
        await peer.ScheduleAsync(warmUp);
        if (!await WaitAsync(warmUp, TimeSpan.FromSeconds(60)))
        {
            throw new TimeoutException($"{peer.Name} did not run its warm-up jobs within 60 s");
        }

        return peer;
    }

    /// <summary>Jobs per second this peer schedules right now, on jobs due tomorrow (they stay pending, as our calibration posts do).</summary>
    private static async Task<double> MeasureScheduleRateAsync(IPeerScheduler peer, int count)
    {
        var tomorrow = DateTimeOffset.UtcNow.AddDays(1);
        // Twice, keeping the faster, as for ours.
        double best = 0;
        for (int pass = 0; pass < 2; pass++)
        {
            var started = Stopwatch.StartNew();
            await peer.ScheduleAsync([.. Enumerable.Range(0, count).Select(i => ($"calibration-{Guid.NewGuid():N}", tomorrow.AddSeconds(i)))]);
            best = Math.Max(best, count / started.Elapsed.TotalSeconds);
        }

        return best;
    }

    private static async Task<bool> WaitAsync(List<(string Id, DateTimeOffset Due)> jobs, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (JobLog.CountStarted(jobs.Select(j => j.Id)) < jobs.Count)
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(250);
        }

        return true;
    }

    private static Distribution? Lags(Report report, string peer, string scenario, List<(string Id, DateTimeOffset Due)> jobs)
    {
        var lags = jobs.Select(j => JobLog.StartOf(j.Id) is { } at ? (at - j.Due).TotalMilliseconds : (double?)null).ToList();
        int missing = lags.Count(l => l is null);
        if (missing == jobs.Count)
        {
            report.Errors.Add($"{Name}: no {peer} {scenario} job ran at all");
        }
        else if (missing > 0)
        {
            report.Notes.Add($"{peer} {scenario}: {missing} of {jobs.Count} jobs had not started within the patience; its lag figures cover the others, 'all started' is left blank");
        }

        var early = lags.OfType<double>().Where(l => l < 0).ToList();
        if (early.Count > 0)
        {
            report.Notes.Add($"{peer} {scenario}: {early.Count} of {jobs.Count} jobs started before their due time, by up to {-early.Min():N0} ms (negative lag)");
        }

        return Distribution.Of(lags.OfType<double>());
    }
}
