using System.Globalization;

namespace ScheduledPosts.Contracts.Platforms;

/// <summary>
/// What a platform accepts, as the publisher's connectors honour it and the scheduling service checks posts against it.
/// </summary>
/// <param name="Platform">The platform name as stored with a social account (<c>sandbox</c>, <c>mastodon</c>, …).</param>
/// <param name="MaxCaptionLength">The most characters a caption may have, counted in <paramref name="CaptionUnit"/>.</param>
/// <param name="SupportsIdempotencyKey">
/// The platform dedupes a repeated request by key, so an attempt whose outcome is unknown may be retried.
/// </param>
/// <param name="SupportsFirstComment">A target's first comment can be posted (on Mastodon-like platforms, as a reply).</param>
/// <param name="MediaKinds">The media kinds a post may carry (<see cref="MediaKind"/>).</param>
/// <param name="MaxMedia">The most media files one post may carry.</param>
/// <param name="VideoOrAudioAlone">A video or audio file must be a post's only media.</param>
/// <param name="CaptionUnit">What <paramref name="MaxCaptionLength"/> counts: code points, graphemes, or X's weighted characters.</param>
/// <param name="MaxCaptionBytes">The most UTF-8 bytes a caption may have as well, when the platform has such a limit.</param>
/// <param name="MaxMediaBytes">The largest media file the platform takes, in bytes, when it has a limit of its own.</param>
/// <param name="MaxVideoBytes">The largest video file, when the platform limits videos otherwise than other media.</param>
/// <param name="FindsLostPosts">
/// The platform does not dedupe a repeated request, but its connector can look a post up (the account's recent posts,
/// matched by text and time): before an attempt after the first, it looks for what an earlier attempt may have posted,
/// so an attempt whose outcome is unknown may be retried (<c>IFindingConnector</c>).
/// </param>
public sealed record PlatformCapabilities(
    string Platform,
    int MaxCaptionLength,
    bool SupportsIdempotencyKey,
    bool SupportsFirstComment,
    IReadOnlyList<string> MediaKinds,
    int MaxMedia,
    bool VideoOrAudioAlone = false,
    CaptionUnit CaptionUnit = CaptionUnit.CodePoints,
    int? MaxCaptionBytes = null,
    long? MaxMediaBytes = null,
    bool FindsLostPosts = false,
    long? MaxVideoBytes = null,
    bool Unpublishes = false)
{
    /// <summary>The largest file of <paramref name="kind"/> (<see cref="MediaKind"/>) the platform takes, or null for no limit of its own.</summary>
    public long? MaxBytesOf(string kind) => kind == MediaKind.Video ? MaxVideoBytes ?? MaxMediaBytes : MaxMediaBytes;

    /// <summary>An attempt whose outcome is unknown may be retried without risking a second copy.</summary>
    public bool RetryAfterUnknownOutcomeIsSafe => SupportsIdempotencyKey || FindsLostPosts;

    /// <summary>The length of <paramref name="text"/> as the platform counts it (<see cref="CaptionUnit"/>).</summary>
    public int CaptionLength(string text) => CaptionUnit switch
    {
        // StringInfo counts extended grapheme clusters (UAX #29): a family emoji or a flag is one.
        CaptionUnit.Graphemes => new StringInfo(text).LengthInTextElements,
        CaptionUnit.XWeighted => XWeightedLength.Of(text),
        _ => text.EnumerateRunes().Count(),
    };
}

/// <summary>How a platform counts a caption's characters.</summary>
public enum CaptionUnit
{
    /// <summary>Unicode code points (Mastodon): an emoji built of several code points counts as several.</summary>
    CodePoints,

    /// <summary>Grapheme clusters, the characters a reader sees (Bluesky's <c>maxGraphemes</c>).</summary>
    Graphemes,

    /// <summary>
    /// X's weighted length (<see cref="XWeightedLength"/>): most Latin text weighs 1 a character, CJK and emoji 2, a
    /// link 23 whatever its length.
    /// </summary>
    XWeighted,
}

/// <summary>The platforms the publisher has connectors for: the one table both services read.</summary>
public static class Platforms
{
    public const string Sandbox = "sandbox";
    public const string Mastodon = "mastodon";
    public const string Bluesky = "bluesky";
    public const string LinkedInPerson = "linkedin_person";
    public const string LinkedInCompany = "linkedin_company";
    public const string FacebookPage = "facebook_page";
    public const string X = "x";

    /// <summary>By platform name, case-insensitively.</summary>
    public static IReadOnlyDictionary<string, PlatformCapabilities> Known { get; } =
        new Dictionary<string, PlatformCapabilities>(StringComparer.OrdinalIgnoreCase)
        {
            // A default Mastodon instance: 500 characters, Idempotency-Key honoured for an hour, a first comment is a
            // reply to the status; up to 4 attachments, a video or audio file only on its own ("Cannot attach a video
            // to a post that already contains images"), https://docs.joinmastodon.org/methods/statuses/#create.
            [Mastodon] = new(Mastodon, 500, SupportsIdempotencyKey: true, SupportsFirstComment: true,
                [MediaKind.Image, MediaKind.Video, MediaKind.Audio], MaxMedia: 4, VideoOrAudioAlone: true,
                // A status is deleted by its author (DELETE /api/v1/statuses/:id, https://docs.joinmastodon.org/methods/statuses/#delete).
                Unpublishes: true),
            // Bluesky (AT Protocol), from the lexicons of github.com/bluesky-social/atproto: app.bsky.feed.post's text is
            // at most 300 graphemes and 3000 UTF-8 bytes (lexicon maxLength counts UTF-8 bytes); app.bsky.embed.images holds
            // at most 4 images of at most 2,000,000 bytes each ("formerly limited to 1 MB"); a first comment is a reply
            // record. Retrying is safe: the connector writes each post under a record key derived from the idempotency
            // key, and a repository holds one record per key (services/publisher/Connectors/Bluesky/README.md).
            [Bluesky] = new(Bluesky, 300, SupportsIdempotencyKey: true, SupportsFirstComment: true, [MediaKind.Image], MaxMedia: 4,
                // A post is deleted by its record (com.atproto.repo.deleteRecord, lexicons/com/atproto/repo/deleteRecord.json).
                CaptionUnit: CaptionUnit.Graphemes, MaxCaptionBytes: 3000, MaxMediaBytes: 2_000_000, Unpublishes: true),
            // LinkedIn, a member (author urn:li:person) or an organisation page (urn:li:organization), through the Posts API
            // (https://learn.microsoft.com/linkedin/marketing/community-management/shares/posts-api): commentary of at most
            // 3000 characters; one image or one video as content.media, or 2 to 20 images as content.multiImage
            // (…/shares/multiimage-post-api), so a video is a post's only media; images uploaded through the Images API
            // (…/shares/images-api: JPG, PNG or GIF under 36,152,320 pixels, no byte limit stated), videos through the Videos
            // API (…/shares/videos-api: MP4, 75 KB to 500 MB, 3 seconds to 30 minutes; 500 MB read as 500 × 2^20 bytes).
            // No idempotency key and no first comment; a lost answer is looked up among the author's posts by text, time and
            // media count (services/publisher/Connectors/LinkedIn/README.md). A post is deleted by its URN (…/posts-api#delete-posts).
            [LinkedInPerson] = new(LinkedInPerson, 3000, SupportsIdempotencyKey: false, SupportsFirstComment: false, [MediaKind.Image, MediaKind.Video], MaxMedia: 20,
                VideoOrAudioAlone: true, FindsLostPosts: true, MaxVideoBytes: 500L * 1024 * 1024, Unpublishes: true),
            [LinkedInCompany] = new(LinkedInCompany, 3000, SupportsIdempotencyKey: false, SupportsFirstComment: false, [MediaKind.Image, MediaKind.Video], MaxMedia: 20,
                VideoOrAudioAlone: true, FindsLostPosts: true, MaxVideoBytes: 500L * 1024 * 1024, Unpublishes: true),
            // A Facebook Page through the Graph API (services/publisher/Connectors/Facebook/README.md): a feed post's message,
            // with photos uploaded unpublished (POST /{page-id}/photos, published=false) and attached by id
            // (attached_media); https://developers.facebook.com/docs/pages-api/posts and /docs/graph-api/photo-uploads.
            // Meta documents no caption limit: 63,206 characters is the limit every third-party reference gives. Meta
            // documents no photo count per post either: 10 is our cap. Images (JPEG, BMP, PNG, GIF, TIFF; Meta advises under
            // 4 MB, no hard size) or one video on its own, published by POST /{page-id}/videos with the caption as its
            // description: the single-request upload takes a video "up to 1GB and 20 minutes long" (the Graph API's words as the
            // Facebook SDK for Windows docs quote them; services/publisher/Connectors/Facebook/README.md). No first comment. Graph does
            // not dedupe a repeated create, but the Page's feed and videos can be read: a retry first looks for the post by
            // its text and media since the first attempt. A post is deleted as the Page (DELETE /{post-id}, pages_manage_posts).
            [FacebookPage] = new(FacebookPage, 63_206, SupportsIdempotencyKey: false, SupportsFirstComment: false, [MediaKind.Image, MediaKind.Video], MaxMedia: 10,
                VideoOrAudioAlone: true, FindsLostPosts: true, MaxVideoBytes: 1024L * 1024 * 1024, Unpublishes: true),
            // X (API v2): a post's text is at most 280 weighted characters as twitter-text's config v3 counts them
            // (github.com/twitter/twitter-text, config/v3.json; XWeightedLength); up to 4 images or 1 video ("You can attach
            // up to 4 photos, 1 animated GIF or 1 video in a Post", https://docs.x.com/x-api/media/quickstart/best-practices);
            // images of at most 5 MB, videos of at most 512 MB (https://docs.x.com/x-api/media, "Image: 5 MB", "Video: 512 MB").
            // The connector sends no first comment. POST /2/tweets does not dedupe by key; a lost answer is looked up among
            // the account's posts before any retry (services/publisher/Connectors/X/README.md). A post is deleted by its
            // author (DELETE /2/tweets/:id).
            [X] = new(X, 280, SupportsIdempotencyKey: false, SupportsFirstComment: false, [MediaKind.Image, MediaKind.Video], MaxMedia: 4,
                VideoOrAudioAlone: true, CaptionUnit: CaptionUnit.XWeighted, MaxMediaBytes: 5 * 1024 * 1024, FindsLostPosts: true,
                MaxVideoBytes: 512L * 1024 * 1024, Unpublishes: true),
            // The project's sandbox platform speaks the same subset with the same limits; it takes images only.
            [Sandbox] = new(Sandbox, 500, SupportsIdempotencyKey: true, SupportsFirstComment: true, [MediaKind.Image], MaxMedia: 4, Unpublishes: true),
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
