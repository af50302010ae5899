using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Api;

/// <summary>
/// <c>GET /v1/platforms</c>: every platform the product knows, whether it is supported, how an account connects, and
/// for a supported one what a post may carry — the limits <c>POST /v1/posts</c> checks, so a client can check first.
/// </summary>
public static class PlatformsApi
{
    public static IEndpointRouteBuilder MapPlatformsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/platforms", () => TypedResults.Ok(new PlatformListJson([.. PlatformCatalogue.All.Select(PlatformJson.From)])))
            .RequireAuthorization(InternalPolicies.Resource("accounts"))
            .WithName("listPlatforms")
            .WithTags("platforms")
            .WithSummary("List the platforms")
            .WithDescription("Every platform, supported or not yet: how its accounts connect (oauth2, app_password, access_token, none) and, when supported, its limits as POST /v1/posts checks them and whether its published copies can be unpublished.");
        return app;
    }
}

public sealed record PlatformListJson(IReadOnlyList<PlatformJson> Data);

/// <param name="Platform">The name social accounts use: <c>x</c>, <c>linkedin_person</c>, <c>mastodon</c>, …</param>
/// <param name="Supported">Accounts can be connected and posts published to it.</param>
/// <param name="Connect">How an account connects: <c>oauth2</c>, <c>app_password</c>, <c>access_token</c> or <c>none</c>.</param>
/// <param name="Capabilities">What a post to it may carry; null while it is not supported.</param>
public sealed record PlatformJson(string Platform, bool Supported, string Connect, CapabilitiesJson? Capabilities)
{
    public static PlatformJson From(PlatformEntry entry)
        => new(entry.Platform, entry.Supported, entry.Connect, entry.Capabilities is { } c ? CapabilitiesJson.From(c) : null);
}

/// <param name="MaxCaptionLength">The longest caption (and first comment), counted in <paramref name="CaptionUnit"/>.</param>
/// <param name="CaptionUnit">
/// <c>code_points</c> (Unicode code points, Mastodon), <c>graphemes</c> (the characters a reader sees, Bluesky) or
/// <c>x_weighted</c> (X's weighted characters: CJK and emoji count 2, a link 23).
/// </param>
/// <param name="MaxCaptionBytes">The most UTF-8 bytes a caption may also have, where the platform says; else null.</param>
/// <param name="MaxMediaBytes">The largest media file the platform takes, where it has a limit of its own; else null.</param>
/// <param name="MaxVideoBytes">The largest video file, for a platform that takes video and limits it; else null.</param>
/// <param name="MediaKinds">The media kinds a post may carry: <c>image</c>, <c>video</c>, <c>audio</c>.</param>
/// <param name="MaxMedia">The most media files one post may carry.</param>
/// <param name="VideoOrAudioAlone">A video or audio file must be the post's only media.</param>
/// <param name="FirstComment">A target may have a first comment, posted right after the post.</param>
/// <param name="Dedupes">
/// The platform recognises a repeated request, so an attempt whose outcome is unknown is retried without risking a
/// second copy.
/// </param>
/// <param name="LostAnswer">
/// What becomes of an attempt whose answer was lost: <c>retried</c> (the platform dedupes), <c>looked_up</c> (the post
/// is searched for among the account's recent posts before any retry, and recorded as published if found), or
/// <c>unknown_outcome</c> (the target ends <c>UNKNOWN_OUTCOME</c> unless retried by hand).
/// </param>
/// <param name="Unpublish">
/// A published copy can be removed from the platform (<c>POST /v1/posts/{id}/unpublish</c>); where it cannot, unpublish
/// answers 409 <c>UNSUPPORTED_BY_PLATFORM</c>.
/// </param>
public sealed record CapabilitiesJson(
    int MaxCaptionLength, string CaptionUnit, int? MaxCaptionBytes, IReadOnlyList<string> MediaKinds, int MaxMedia, long? MaxMediaBytes,
    bool VideoOrAudioAlone, bool FirstComment, bool Dedupes, string LostAnswer, long? MaxVideoBytes, bool Unpublish)
{
    public static CapabilitiesJson From(PlatformCapabilities c)
        => new(c.MaxCaptionLength, Unit(c.CaptionUnit), c.MaxCaptionBytes,
            c.MediaKinds, c.MaxMedia, c.MaxMediaBytes, c.VideoOrAudioAlone, c.SupportsFirstComment, c.SupportsIdempotencyKey,
            c.SupportsIdempotencyKey ? "retried" : c.FindsLostPosts ? "looked_up" : "unknown_outcome",
            c.MediaKinds.Contains(Contracts.Platforms.MediaKind.Video) ? c.MaxBytesOf(Contracts.Platforms.MediaKind.Video) : null,
            c.Unpublishes);

    private static string Unit(Contracts.Platforms.CaptionUnit unit) => unit switch
    {
        Contracts.Platforms.CaptionUnit.Graphemes => "graphemes",
        Contracts.Platforms.CaptionUnit.XWeighted => "x_weighted",
        _ => "code_points",
    };
}
