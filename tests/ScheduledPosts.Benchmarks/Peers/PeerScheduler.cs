using System.Collections.Concurrent;

namespace ScheduledPosts.Benchmarks.Peers;

/// <summary>A scheduler people would pick instead of ours, run in this process against its own database on the same server.</summary>
public interface IPeerScheduler : IAsyncDisposable
{
    string Name { get; }

    /// <summary>How it is configured, printed with the results.</summary>
    string Settings { get; }

    /// <summary>Schedules one job per item, each to run <see cref="JobLog.Started"/> with its id at its due time.</summary>
    Task ScheduleAsync(IReadOnlyList<(string Id, DateTimeOffset Due)> jobs);
}

/// <summary>Where the peers' jobs write down the moment they started executing: the peer's equivalent of our claim.</summary>
public static class JobLog
{
    private static readonly ConcurrentDictionary<string, DateTimeOffset> Starts = new();
    private static int _duplicates;

    public static void Started(string id)
    {
        if (!Starts.TryAdd(id, DateTimeOffset.UtcNow))
        {
            Interlocked.Increment(ref _duplicates);
        }
    }

    public static int Duplicates => Volatile.Read(ref _duplicates);

    public static DateTimeOffset? StartOf(string id) => Starts.TryGetValue(id, out var at) ? at : null;

    public static int CountStarted(IEnumerable<string> ids) => ids.Count(Starts.ContainsKey);
}
