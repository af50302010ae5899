using System.Diagnostics;

namespace ScheduledPosts.Benchmarks;

/// <summary>Progress on stderr, so a slow phase shows where the time went; stdout keeps only the report.</summary>
public static class Log
{
    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    public static void Step(string message) => Console.Error.WriteLine($"[{Clock.Elapsed:mm\\:ss\\.f}] {message}");
}
