namespace ScheduledPosts.Publisher.Connectors.X;

public sealed class XOptions
{
    public const string Section = "X";

    /// <summary>The X API v2 host; tests and the development stack point it at a fake.</summary>
    public Uri BaseUrl { get; set; } = new("https://api.x.com/");

    /// <summary>
    /// How long one request may take before it counts as a timeout. A create that timed out is looked up among the
    /// account's posts before anything is sent again (README.md), so a retry does not post it twice.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The most pages of the account's timeline a lookup reads (100 posts each) before it gives up.</summary>
    public int MaxLookupPages { get; set; } = 5;

    /// <summary>The bytes of a video sent in one APPEND; X takes chunks of at most 5 MB.</summary>
    public int VideoChunkBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>How long to wait between status checks when X names no <c>check_after_secs</c>.</summary>
    public TimeSpan MediaPollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a video may stay in processing before the attempt fails (retryably, <c>MEDIA_NOT_READY</c>; nothing was
    /// posted). The publisher holds the target's lease meanwhile.
    /// </summary>
    public TimeSpan MediaProcessingTimeout { get; set; } = TimeSpan.FromMinutes(2);
}
