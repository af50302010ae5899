namespace ScheduledPosts.Publisher.Connectors.Bluesky;

public sealed class BlueskyOptions
{
    public const string Section = "Bluesky";

    /// <summary>
    /// How long one request to a PDS may take before it counts as a timeout. A post whose request timed out is looked up
    /// by its record key before anything is sent again (README.md), so a retry never posts it twice.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
}
