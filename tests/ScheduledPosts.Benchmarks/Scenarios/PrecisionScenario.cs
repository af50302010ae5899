using ScheduledPosts.Benchmarks.Reporting;
using ScheduledPosts.Benchmarks.Stack;

namespace ScheduledPosts.Benchmarks.Scenarios;

/// <summary>Lag of scheduled work behind its due time: ours, or a peer's.</summary>
public sealed record LagResult(Distribution? Lag, int N, int Started)
{
    public bool Complete => Started == N;
}

/// <summary>
/// Scenario 1: single-target posts due at random instants spread over a window; lag = the moment the publisher claimed
/// the target (targets.last_attempt_at, written by the claim with clock_timestamp()) − posts.scheduled_for. Every post is
/// created through the gateway before the window opens, so the lag is the scheduler's alone.
/// </summary>
public static class PrecisionScenario
{
    public const string Name = "precision";

    public static async Task<LagResult> RunAsync(Sizes sizes, Report report, StackSource stacks)
    {
        int n = sizes.PrecisionPosts;
        await using var lease = await stacks.GetAsync(Name);
        var stack = lease.Stack;
        string account = await stack.ConnectSandboxAccountAsync("precision");
        await stack.WarmUpAsync(account);
        double rate = await stack.MeasureCreateRateAsync(account, Math.Clamp(n / 10, 20, 200));

        var windowStart = DateTimeOffset.UtcNow + Plan.SetupTime(n, rate, sizes);
        var random = new Random(20261101);
        var dues = Enumerable.Range(0, n).Select(_ => windowStart + sizes.PrecisionWindow * random.NextDouble()).ToArray();
        Log.Step($"  creating {n:N0} posts due from {windowStart:HH:mm:ss.fff} (creates at {rate:0}/s)");
        string[] ids = await stack.CreatePostsAsync(n, i => ($"precision {i}", [account], dues[i]));
        Plan.CheckSetupFinished(report, Name, windowStart);
        Log.Step("  created; waiting for the window to pass");

        bool done = await stack.WaitForAsync(ids, (windowStart - DateTimeOffset.UtcNow) + sizes.PrecisionWindow + sizes.Patience,
            p => p.Published + p.Failed == n, "every precision post to publish");
        var claims = await stack.ClaimsAsync(ids);
        var lag = Plan.CheckClaims(report, Name, claims, n, done);

        // Percentiles of the claimed ones only would flatter a run that left some behind: such a run misses the target.
        int claimed = lag?.Count ?? 0;
        string left = claimed < n ? $"; **{n - claimed:N0} never claimed**" : "";
        report.Rows.Add(new Row(Name, $"due → claimed by the publisher ({n:N0} posts over {sizes.PrecisionWindow.TotalSeconds:0} s{left})", claimed, lag,
            Report.PerSecond(n / sizes.PrecisionWindow.TotalSeconds, "posts") + " offered", "p99 ≤ 100 ms",
            claimed < n ? Verdict.Missed : Report.AtMost(lag?.P99, 100)));
        return new LagResult(lag, n, claimed);
    }
}

/// <summary>What the scheduling scenarios share: when to put the due time, and what counts as a broken run.</summary>
public static class Plan
{
    /// <summary>
    /// Due times go this far ahead: room to create everything first (twice as long as the measured rate says), plus
    /// <paramref name="margin"/> (3 s unless said), within <see cref="Sizes.MaxSetup"/> — which never cuts below the
    /// margin plus one and a half times the measured need: on a busy machine the cap alone made runs overlap their due time.
    /// </summary>
    public static TimeSpan SetupTime(int count, double createsPerSecond, Sizes sizes, TimeSpan? margin = null)
    {
        double need = count / createsPerSecond, extra = (margin ?? TimeSpan.FromSeconds(3)).TotalSeconds;
        return TimeSpan.FromSeconds(Math.Max(Math.Min(sizes.MaxSetup.TotalSeconds, extra + 2 * need), extra + 1.5 * need));
    }

    public static void CheckSetupFinished(Report report, string scenario, DateTimeOffset firstDue)
    {
        if (DateTimeOffset.UtcNow > firstDue)
        {
            report.Errors.Add($"{scenario}: creating the posts took longer than planned and overlapped their due time ({(DateTimeOffset.UtcNow - firstDue).TotalMilliseconds:N0} ms late); the figures are not valid");
        }
    }

    /// <summary>The lag of every target claimed on its first attempt; anything else is an error of the run.</summary>
    public static Distribution? CheckClaims(Report report, string scenario, List<ClaimRecord> claims, int expected, bool finished)
    {
        if (!finished)
        {
            report.Errors.Add($"{scenario}: not every target was published within the patience ({claims.Count(c => c.Status == "published")} of {expected})");
        }

        int unclaimed = claims.Count(c => c.LastAttemptAt is null);
        int retried = claims.Count(c => c.AttemptCount > 1);
        int failed = claims.Count(c => c.Status != "published");
        if (claims.Count != expected || unclaimed > 0)
        {
            report.Errors.Add($"{scenario}: {unclaimed + expected - claims.Count} of {expected} targets were never claimed");
        }

        if (retried > 0)
        {
            report.Errors.Add($"{scenario}: {retried} targets needed more than one attempt (their first claim moment is lost)");
        }

        if (failed > 0)
        {
            var statuses = claims.Where(c => c.Status != "published").GroupBy(c => c.Status).Select(g => $"{g.Count()} {g.Key}");
            report.Errors.Add($"{scenario}: {failed} targets did not end published ({string.Join(", ", statuses)})");
        }

        return Distribution.Of(claims.Where(c => c.AttemptCount == 1).Select(c => c.LagMs!.Value));
    }
}
