namespace ScheduledPosts.Publisher.Connectors.Facebook;

public sealed class FacebookOptions
{
    public const string Section = "Facebook";

    /// <summary>The Graph API host; tests and the end-to-end suite point it at a fake.</summary>
    public Uri BaseUrl { get; set; } = new("https://graph.facebook.com/");

    /// <summary>
    /// The Graph API version every call names (<c>/v26.0/…</c>). Meta keeps each version available for at least two years
    /// after its release; moving on is a configuration change once the connector was checked against the new version.
    /// </summary>
    public string GraphVersion { get; set; } = "v26.0";

    /// <summary>How long one Graph request may take before it counts as a timeout; a post whose create timed out is looked up before a retry.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How many pages of the Page's feed (25 posts each) a lookup for an earlier attempt's post reads at most.</summary>
    public int LookupPages { get; set; } = 4;

    /// <summary>How long to wait between reads of a new video's status while Facebook processes it.</summary>
    public TimeSpan MediaPollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a video may stay in processing before the attempt fails (retryably, <c>MEDIA_NOT_READY</c>). The video is
    /// on the Page already: the lookup before the retry finds it once it is there, and the retry posts nothing again.
    /// </summary>
    public TimeSpan MediaProcessingTimeout { get; set; } = TimeSpan.FromMinutes(2);

    public bool IsValid()
        => BaseUrl is { IsAbsoluteUri: true } && BaseUrl.Scheme is "https" or "http"
           && System.Text.RegularExpressions.Regex.IsMatch(GraphVersion ?? "", @"^v\d+\.\d+$")
           && Timeout > TimeSpan.Zero && LookupPages > 0 && MediaPollInterval > TimeSpan.Zero && MediaProcessingTimeout > TimeSpan.Zero;
}
