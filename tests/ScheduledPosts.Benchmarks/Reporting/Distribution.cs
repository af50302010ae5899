namespace ScheduledPosts.Benchmarks.Reporting;

/// <summary>Percentiles of a sample of latencies in milliseconds (nearest rank, so every figure is a measured value).</summary>
public sealed record Distribution(int Count, double P50, double P95, double P99, double Max)
{
    public static Distribution? Of(IEnumerable<double> milliseconds)
    {
        double[] sorted = [.. milliseconds.Order()];
        if (sorted.Length == 0)
        {
            return null;
        }

        return new Distribution(sorted.Length, Rank(sorted, 0.50), Rank(sorted, 0.95), Rank(sorted, 0.99), sorted[^1]);
    }

    private static double Rank(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
