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
/// <param name="MediaKinds">The media kinds a post may carry (<see cref="MediaKind"/>).</param>
/// <param name="MaxMedia">The most media files one post may carry.</param>
/// <param name="VideoOrAudioAlone">A video or audio file must be a post's only media.</param>
public sealed record PlatformCapabilities(
    string Platform,
    int MaxCaptionLength,
    bool SupportsIdempotencyKey,
    bool SupportsFirstComment,
    IReadOnlyList<string> MediaKinds,
    int MaxMedia,
    bool VideoOrAudioAlone = false);

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
            // reply to the status; up to 4 attachments, a video or audio file only on its own ("Cannot attach a video
            // to a post that already contains images"), https://docs.joinmastodon.org/methods/statuses/#create.
            [Mastodon] = new(Mastodon, 500, SupportsIdempotencyKey: true, SupportsFirstComment: true,
                [MediaKind.Image, MediaKind.Video, MediaKind.Audio], MaxMedia: 4, VideoOrAudioAlone: true),
            // The project's sandbox platform speaks the same subset with the same limits; it takes images only.
            [Sandbox] = new(Sandbox, 500, SupportsIdempotencyKey: true, SupportsFirstComment: true, [MediaKind.Image], MaxMedia: 4),
        };
}

/// <summary>What kind of media a file is, by its content type, as platforms tell them apart.</summary>
public static class MediaKind
{
    /// <summary>Still or animated images (Mastodon turns an animated GIF into a <c>gifv</c> after upload).</summary>
    public const string Image = "image";
    public const string Video = "video";
    public const string Audio = "audio";

    /// <summary><c>image/png</c> → image, <c>video/mp4</c> → video, …; null for a type of no kind a platform takes.</summary>
    public static string? Of(string contentType)
        => contentType.StartsWith("image/", StringComparison.OrdinalIgnoreCase) ? Image
        : contentType.StartsWith("video/", StringComparison.OrdinalIgnoreCase) ? Video
        : contentType.StartsWith("audio/", StringComparison.OrdinalIgnoreCase) ? Audio
        : null;
}
