namespace ScheduledPosts.Scheduling.Watch;

/// <summary>How the scheduling service watches its own work (docs/operations.md#self-watch).</summary>
public sealed class WatchOptions
{
    public const string Section = "Watch";

    /// <summary>A target still waiting this long after it fell due is overdue: <c>/readyz</c> says Degraded.</summary>
    public TimeSpan OverdueAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the backlog is measured for the metrics and <c>/readyz</c>.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The recent window <c>GET /admin/status</c> computes its lag percentiles over.</summary>
    public TimeSpan LagWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// RabbitMQ's management API (e.g. <c>http://rabbitmq:15672/</c>), read for the queue depths of <c>GET /admin/status</c>
    /// as <see cref="BrokerManagementUsername"/>; unset, the status says the queues are not available.
    /// </summary>
    public Uri? BrokerManagementUrl { get; set; }

    /// <summary>
    /// The broker user that reads the management API: one of its own (<c>scheduling-monitor</c> in
    /// deploy/rabbitmq/permissions.tsv, with the <c>management</c> tag and no permission on any exchange or queue).
    /// </summary>
    public string BrokerManagementUsername { get; set; } = "";

    public string BrokerManagementPassword { get; set; } = "";

    public bool IsValid() => OverdueAfter > TimeSpan.Zero && Interval > TimeSpan.Zero && LagWindow > TimeSpan.Zero
        && (BrokerManagementUrl is null || (BrokerManagementUrl is { IsAbsoluteUri: true, Scheme: "http" or "https" }
            && BrokerManagementUsername.Length > 0 && BrokerManagementPassword.Length > 0));
}
