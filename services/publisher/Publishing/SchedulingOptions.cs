namespace ScheduledPosts.Publisher.Publishing;

/// <summary>How the publisher reaches the scheduling service's <c>Targets</c> gRPC API.</summary>
public sealed class SchedulingOptions
{
    public const string Section = "Scheduling";

    public Uri GrpcUrl { get; set; } = new("http://localhost:8082");

    /// <summary>The deadline of one ClaimTargets or CompleteTargets call.</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The deadline of a call to the scheduling service started now.</summary>
    public DateTime CallDeadline(TimeProvider clock) => clock.GetUtcNow().UtcDateTime + CallTimeout;

    /// <summary>How many claims one ClaimTargets call, or reports one CompleteTargets call, carries at most (the scheduling service takes up to 500).</summary>
    public int MaxPerCall { get; set; } = 100;

    /// <summary>How many ClaimTargets (and, apart, CompleteTargets) calls one replica has under way at once for one workspace; its further claims and reports wait and share its next call.</summary>
    public int CallsInFlight { get; set; } = 2;

    /// <summary>
    /// How often reporting an outcome is retried while the scheduling service is unreachable, waiting
    /// <see cref="CompleteRetryDelay"/>, then twice that, and so on. The upload has happened by then, so the report
    /// is retried here: a redelivered message could not claim the target again.
    /// </summary>
    public int CompleteRetries { get; set; } = 5;

    public TimeSpan CompleteRetryDelay { get; set; } = TimeSpan.FromSeconds(1);
}
