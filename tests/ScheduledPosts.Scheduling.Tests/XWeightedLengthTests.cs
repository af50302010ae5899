using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>X's weighted length (twitter-text config v3), as POST /v1/posts checks an X target's caption.</summary>
public sealed class XWeightedLengthTests
{
    private static readonly PlatformCapabilities X = Platforms.Known[Platforms.X];

    [Theory]
    [InlineData("Hello, world", 12)]
    [InlineData("Ça démarre — “bientôt”", 22)] // accents, the dash and quotes weigh 1
    [InlineData("…", 2)] // U+2026 lies outside the ranges that weigh 1
    [InlineData("こんにちは", 10)] // CJK: 2 each
    [InlineData("🚀", 2)]
    [InlineData("👨‍👩‍👧‍👦", 2)] // a family of 7 code points is one emoji
    [InlineData("👍🏽", 2)] // with a skin tone
    [InlineData("🇫🇷", 2)] // a flag: two regional indicators
    [InlineData("1️⃣", 2)] // a keycap
    [InlineData("https://example.org/a/very/long/path?with=query&and=more#fragment", 23)]
    [InlineData("See https://example.org/launch.", 4 + 23 + 1)] // the full stop after a link is not part of it
    [InlineData("www.example.org and http://a.b", 23 + 5 + 23)]
    [InlineData("e\u0301", 1)] // decomposed é counts as the one character NFC makes of it
    public void A_caption_counts_as_X_counts_it(string text, int expected)
        => Assert.Equal(expected, X.CaptionLength(text));

    [Fact]
    public void An_X_caption_of_280_weighted_characters_is_accepted_and_281_refused()
    {
        PostRules.ValidateCaptionFor("x", new string('a', 280), "caption");
        PostRules.ValidateCaptionFor("x", new string('日', 140), "caption");
        PostRules.ValidateCaptionFor("x", string.Concat(Enumerable.Repeat("https://example.org/a-long-link-to-somewhere ", 11)) + new string('a', 16), "caption");

        var error = Assert.Throws<ApiException>(() => PostRules.ValidateCaptionFor("x", new string('日', 140) + "a", "targets[0].caption"));
        Assert.Equal("targets[0].caption", error.Issues![0].Path);
        Assert.Contains("281", error.Issues[0].Message, StringComparison.Ordinal);
        Assert.Throws<ApiException>(() => PostRules.ValidateCaptionFor("x", string.Concat(Enumerable.Repeat("🚀", 141)), "caption"));
    }
}
