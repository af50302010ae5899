namespace ScheduledPosts.Contracts.Platforms;

/// <summary>
/// What a platform accepts, as the publisher's connectors honour it and the scheduling service checks posts against it.
/// </summary>
/// <param name="Platform">The platform name as stored with a social account (<c>sandbox</c>, <c>mastodon</c>, …).</param>
/// <param name="MaxCaptionLength">The most characters (Unicode code points) a caption may have.</param>
/// <param name="SupportsIdempotencyKey">
/// The platform dedupes a repeated request by key, so an attempt whose outcome is unknown may be retried.
/// </param>
/// <param name="SupportsFirstComment">A target's first comment can be posted (on Mastodon-like platforms, as a reply).</param>
/// <param name="MediaKinds">The media kinds a post may carry: <c>image</c>, <c>gifv</c>, <c>video</c>, <c>audio</c>.</param>
public sealed record PlatformCapabilities(
    string Platform,
    int MaxCaptionLength,
    bool SupportsIdempotencyKey,
    bool SupportsFirstComment,
    IReadOnlyList<string> MediaKinds);

/// <summary>The platforms the publisher has connectors for: the one table both services read.</summary>
public static class Platforms
{
    public const string Sandbox = "sandbox";
    public const string Mastodon = "mastodon";

    /// <summary>By platform name, case-insensitively.</summary>
    public static IReadOnlyDictionary<string, PlatformCapabilities> Known { get; } =
        new Dictionary<string, PlatformCapabilities>(StringComparer.OrdinalIgnoreCase)
        {
            // A default Mastodon instance: 500 characters, Idempotency-Key honoured for an hour, a first comment is a
            // reply to the status; media as in https://docs.joinmastodon.org/entities/MediaAttachment/.
            [Mastodon] = new(Mastodon, 500, SupportsIdempotencyKey: true, SupportsFirstComment: true, ["image", "gifv", "video", "audio"]),
            // The project's sandbox platform speaks the same subset with the same limits; it takes images only.
            [Sandbox] = new(Sandbox, 500, SupportsIdempotencyKey: true, SupportsFirstComment: true, ["image"]),
        };
}
