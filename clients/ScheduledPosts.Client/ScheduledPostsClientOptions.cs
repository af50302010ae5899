namespace ScheduledPosts.Client;

/// <summary>Where the gateway's gRPC port is, the API key to call it with, and how long and how often to try.</summary>
public sealed class ScheduledPostsClientOptions
{
    /// <summary>The gateway's gRPC port, e.g. <c>http://localhost:8081</c> (h2c) or an <c>https</c> address.</summary>
    public Uri? Address { get; set; }

    /// <summary>An API key of the workspace (<c>sp_…</c>), sent as <c>authorization: Bearer</c> metadata on every call.</summary>
    public string? ApiKey { get; set; }

    /// <summary>The deadline of a call that sets none itself, retries included.</summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts of a call that fails <c>UNAVAILABLE</c>, the first included (1 to 5; 1 turns retries off).</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>The wait before the first retry; each next one doubles it, up to 5 s, with gRPC's random jitter.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(500);

    // The key stays out of anything that prints the options.
    public override string ToString() => $"Address={Address}, Deadline={Deadline}, MaxAttempts={MaxAttempts}, InitialBackoff={InitialBackoff}";
}
