using System.Globalization;

namespace ScheduledPosts.Benchmarks.Reporting;

/// <summary>
/// <c>--assert-ratios</c>: our burst's started/s against Quartz.NET's in the same run, held to the target of issue 16, so
/// a regression shows as a non-zero exit of one command. A ratio, not an absolute figure: absolute figures move 3×
/// between machines of one kind, the ratio from one run holds steady.
/// </summary>
public static class RatioCheck
{
    public const string Flag = "--assert-ratios";

    /// <summary>Ours ÷ Quartz.NET's, burst started per second: the issue's target.</summary>
    public const double BurstAgainstQuartzTarget = 3.0;

    /// <summary>The exit code of a run whose only failure is a ratio below its target (1: a scenario had errors; 2: bad arguments).</summary>
    public const int BelowTarget = 3;

    public sealed record Outcome(bool Met, double? Ratio, string Line);

    /// <summary>The verdict on the two rates (claims or starts per second of one burst); a missing rate is a miss, never a pass.</summary>
    public static Outcome BurstAgainstQuartz(double? oursPerSecond, double? quartzPerSecond)
    {
        string target = $"target ≥ {BurstAgainstQuartzTarget.ToString("0.#", CultureInfo.InvariantCulture)}×";
        if (oursPerSecond is not > 0 || quartzPerSecond is not > 0)
        {
            return new(false, null, $"burst started/s, ScheduledPosts vs Quartz.NET: no ratio (ours {Rate(oursPerSecond)}, Quartz.NET {Rate(quartzPerSecond)}: a burst failed or did not finish); {target}: NOT MET");
        }

        double ratio = oursPerSecond.Value / quartzPerSecond.Value;
        bool met = ratio >= BurstAgainstQuartzTarget;
        return new(met, ratio, string.Create(CultureInfo.InvariantCulture,
            $"burst started/s, ScheduledPosts vs Quartz.NET: {Rate(oursPerSecond)} ÷ {Rate(quartzPerSecond)} = {ratio:0.00}×; {target}: {(met ? "met" : "NOT MET")}"));
    }

    /// <summary>Why the chosen scenarios cannot be held to the ratio, or null when they can (peers runs the burst with it).</summary>
    public static string? Refusal(IReadOnlyCollection<string> chosen, string peersScenario)
        => chosen.Contains(peersScenario)
            ? null
            : $"{Flag} compares our burst with Quartz.NET's in the same run, and the scenarios chosen ({string.Join(", ", chosen)}) do not run the peers: add '{peersScenario}' (it runs the burst too) or choose 'all'.";

    private static string Rate(double? perSecond) => perSecond is > 0 ? perSecond.Value.ToString("0.#", CultureInfo.InvariantCulture) + "/s" : "none";
}
