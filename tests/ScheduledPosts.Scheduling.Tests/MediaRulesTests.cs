using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>Whether a target's platform takes a post's media: kinds, count, a video alone (pure rules).</summary>
public sealed class MediaRulesTests
{
    private const string Path = "targets[2].socialAccountId";

    [Theory]
    [InlineData("sandbox", new[] { "image/png", "image/jpeg", "image/gif", "image/webp" })]
    [InlineData("mastodon", new[] { "image/png", "image/jpeg", "image/gif", "image/webp" })]
    [InlineData("mastodon", new[] { "video/mp4" })]
    [InlineData("mastodon", new string[0])]
    [InlineData("a-platform-without-a-table", new[] { "video/mp4", "video/mp4", "image/png", "image/png", "image/png" })]
    public void Media_the_platform_takes_passes(string platform, string[] contentTypes)
        => PostRules.ValidateMediaFor(platform, contentTypes, Path);

    [Fact]
    public void The_sandbox_takes_no_video()
        => AssertRefused(() => PostRules.ValidateMediaFor("sandbox", ["image/png", "video/mp4"], Path), "mediaIds[1] (video/mp4)");

    [Fact]
    public void Mastodon_takes_a_video_only_on_its_own()
        => AssertRefused(() => PostRules.ValidateMediaFor("mastodon", ["image/png", "video/mp4"], Path), "video file (mediaIds[1]) only");

    [Fact]
    public void More_media_than_the_platform_takes_is_refused()
    {
        var twoImages = new PlatformCapabilities("tiny", 280, false, false, [MediaKind.Image], MaxMedia: 2);
        PostRules.ValidateMediaFor(twoImages, ["image/png", "image/png"], Path);
        AssertRefused(() => PostRules.ValidateMediaFor(twoImages, ["image/png", "image/png", "image/png"], Path), "at most 2 media");
    }

    [Theory]
    [InlineData("image/png", "image")]
    [InlineData("IMAGE/GIF", "image")]
    [InlineData("video/mp4", "video")]
    [InlineData("audio/mpeg", "audio")]
    [InlineData("application/pdf", null)]
    public void A_files_kind_is_its_content_types_top_level(string contentType, string? kind)
        => Assert.Equal(kind, MediaKind.Of(contentType));

    private static void AssertRefused(Action action, string reason)
    {
        var error = Assert.Throws<ApiException>(action);
        Assert.Equal((422, "VALIDATION", Path), (error.Status, error.Code, error.Issues![0].Path));
        Assert.Contains(reason, error.Issues[0].Message, StringComparison.Ordinal);
    }
}
