namespace ScheduledPosts.Publisher.Connectors.LinkedIn;

public sealed class LinkedInOptions
{
    public const string Section = "LinkedIn";

    /// <summary>The REST API's host; tests and the dev stack point it at a fake.</summary>
    public Uri BaseUrl { get; set; } = new("https://api.linkedin.com/");

    /// <summary>
    /// The <c>LinkedIn-Version</c> header (YYYYMM) every <c>/rest</c> call carries. LinkedIn keeps a version for about a
    /// year, then sunsets it: a deployment moves it forward before then.
    /// </summary>
    public string Version { get; set; } = "202605";

    /// <summary>How long one request may take before it counts as a timeout (a post's is then looked up before a retry).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How many of the author's most recently modified posts a lookup reads at most.</summary>
    public int LookupDepth { get; set; } = 100;

    /// <summary>How long to wait between checks of an uploaded video's status while LinkedIn processes it.</summary>
    public TimeSpan MediaPollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a video may stay in processing before the attempt fails (retryably, <c>MEDIA_NOT_READY</c>; nothing was
    /// posted). The publisher holds the target's lease meanwhile.
    /// </summary>
    public TimeSpan MediaProcessingTimeout { get; set; } = TimeSpan.FromMinutes(2);
}
