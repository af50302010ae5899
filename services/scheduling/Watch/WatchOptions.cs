namespace ScheduledPosts.Scheduling.Watch;

/// <summary>How the scheduling service watches its own work (docs/operations.md#self-watch).</summary>
public sealed class WatchOptions
{
    public const string Section = "Watch";

    /// <summary>A target still waiting this long after it fell due is overdue: <c>/readyz</c> says Degraded.</summary>
    public TimeSpan OverdueAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the backlog is measured for the metrics and <c>/readyz</c>.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

    public bool IsValid() => OverdueAfter > TimeSpan.Zero && Interval > TimeSpan.Zero;
}
