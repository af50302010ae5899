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
}
