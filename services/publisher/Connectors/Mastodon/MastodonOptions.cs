namespace ScheduledPosts.Publisher.Connectors.Mastodon;

public sealed class MastodonOptions
{
    public const string Section = "Mastodon";

    /// <summary>How long one request to an instance may take before it counts as a timeout (and is retried under the same idempotency key).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often to ask whether media the instance processes in the background is ready.</summary>
    public TimeSpan MediaPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long to wait for that before the attempt fails (retryably; nothing was posted).</summary>
    public TimeSpan MediaProcessingTimeout { get; set; } = TimeSpan.FromMinutes(1);
}
