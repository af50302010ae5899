namespace ScheduledPosts.Publisher.Connectors.Sandbox;

public sealed class SandboxOptions
{
    public const string Section = "Sandbox";

    public Uri BaseUrl { get; set; } = new("http://localhost:8095");

    /// <summary>How long one upload may take before it counts as a timeout (and is retried under the same idempotency key).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
}
