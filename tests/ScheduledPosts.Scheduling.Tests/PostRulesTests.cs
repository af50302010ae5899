using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

public sealed class PostRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 5, 25, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("2026-05-25T13:00:00Z", "2026-05-25T13:00:00Z")]
    [InlineData("2026-05-25T09:00:00-04:00", "2026-05-25T13:00:00Z")]
    [InlineData("2026-05-25T15:00:00.250+02:00", "2026-05-25T13:00:00.250Z")]
    public void An_instant_with_an_offset_is_converted_to_UTC(string input, string expected)
        => Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), PostRules.ParseScheduledFor(input, Now));

    [Theory]
    [InlineData("2026-05-25T13:00:00")]          // no offset: ambiguous
    [InlineData("2026-05-25 13:00:00Z")]         // not RFC 3339
    [InlineData("tomorrow")]
    [InlineData("2026-02-30T13:00:00Z")]         // no such day
    [InlineData("")]
    public void Malformed_or_offsetless_times_are_422_on_scheduledFor(string input)
        => AssertValidation(() => PostRules.ParseScheduledFor(input, Now), "scheduledFor");

    [Fact]
    public void Within_the_30_second_skew_tolerance_the_past_is_due_at_once()
        => Assert.Equal(Now.AddSeconds(-29), PostRules.ParseScheduledFor("2026-05-25T11:59:31Z", Now));

    [Fact]
    public void Beyond_the_skew_tolerance_the_past_is_refused()
        => AssertValidation(() => PostRules.ParseScheduledFor("2026-05-25T11:59:29Z", Now), "scheduledFor");

    [Fact]
    public void Beyond_the_365_day_horizon_is_refused()
    {
        Assert.Equal(Now.AddDays(365), PostRules.ParseScheduledFor("2027-05-25T12:00:00Z", Now));
        AssertValidation(() => PostRules.ParseScheduledFor("2027-05-25T12:00:01Z", Now), "scheduledFor");
    }

    [Fact]
    public void Targets_must_be_one_to_twenty_distinct_accounts()
    {
        AssertValidation(() => PostRules.ValidateTargetAccounts([]), "targets");
        AssertValidation(() => PostRules.ValidateTargetAccounts(Enumerable.Range(0, 21).Select(i => (string?)$"acc_{i}").ToList()), "targets");
        AssertValidation(() => PostRules.ValidateTargetAccounts(["acc_1", "acc_2", "acc_1"]), "targets[2].socialAccountId");
        PostRules.ValidateTargetAccounts(Enumerable.Range(0, 20).Select(i => (string?)$"acc_{i}").ToList());
    }

    [Fact]
    public void Timezones_must_be_IANA()
    {
        PostRules.ValidateTimezone("America/New_York");
        AssertValidation(() => PostRules.ValidateTimezone("Mars/Olympus_Mons"), "timezone");
    }

    [Theory]
    [InlineData(new[] { "published", "published" }, false, "published")]
    [InlineData(new[] { "published", "failed" }, false, "partially_published")]
    [InlineData(new[] { "failed", "failed" }, false, "failed")]
    [InlineData(new[] { "published", "cancelled" }, false, "published")]          // a target cancelled on its own is ignored
    [InlineData(new[] { "cancelled", "cancelled" }, false, "cancelled")]           // every target cancelled one by one
    [InlineData(new[] { "published", "cancelled" }, true, "cancelled")]            // a post-level cancel took effect
    [InlineData(new[] { "published", "publishing" }, false, null)]                 // not settled yet
    public void The_post_status_follows_its_targets_once_all_are_terminal(string[] targets, bool postCancelled, string? expected)
        => Assert.Equal(expected, PostRules.AggregateStatus(targets, postCancelled));

    [Fact]
    public void Retry_backoff_grows_exponentially_up_to_the_cap_and_stops_after_the_last_attempt()
    {
        var baseDelay = TimeSpan.FromSeconds(2);
        var cap = TimeSpan.FromSeconds(10);
        Assert.Equal(TimeSpan.FromSeconds(2), PostRules.RetryDelay(1, 5, baseDelay, cap, jitter01: 1));
        Assert.Equal(TimeSpan.FromSeconds(4), PostRules.RetryDelay(2, 5, baseDelay, cap, jitter01: 1));
        Assert.Equal(TimeSpan.FromSeconds(10), PostRules.RetryDelay(4, 5, baseDelay, cap, jitter01: 1));
        Assert.Equal(TimeSpan.FromSeconds(5), PostRules.RetryDelay(4, 5, baseDelay, cap, jitter01: 0));
        Assert.Null(PostRules.RetryDelay(5, 5, baseDelay, cap, jitter01: 1));
    }

    // 👨‍👩‍👧‍👦 is one grapheme of seven code points and 25 UTF-8 bytes; 🇫🇷 one grapheme of two code points and 8 bytes.
    private const string Family = "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466";
    private const string Flag = "\U0001F1EB\U0001F1F7";

    [Fact]
    public void Bluesky_counts_a_caption_in_graphemes()
    {
        PostRules.ValidateCaptionFor("bluesky", string.Concat(Enumerable.Repeat(Flag, 300)), "caption");
        PostRules.ValidateCaptionFor("bluesky", string.Concat(Enumerable.Repeat("e\u0301", 300)), "caption");
        AssertValidation(() => PostRules.ValidateCaptionFor("bluesky", string.Concat(Enumerable.Repeat(Flag, 301)), "caption"), "caption");
        AssertValidation(() => PostRules.ValidateCaptionFor("bluesky", new string('a', 301), "targets[0].captionOverride"), "targets[0].captionOverride");
    }

    [Fact]
    public void Bluesky_also_limits_a_caption_to_3000_UTF8_bytes()
    {
        PostRules.ValidateCaptionFor("bluesky", string.Concat(Enumerable.Repeat(Family, 120)), "caption");
        AssertValidation(() => PostRules.ValidateCaptionFor("bluesky", string.Concat(Enumerable.Repeat(Family, 121)), "caption"), "caption");
    }

    [Fact]
    public void Mastodon_still_counts_code_points()
    {
        PostRules.ValidateCaptionFor("mastodon", string.Concat(Enumerable.Repeat(Flag, 250)), "caption");
        AssertValidation(() => PostRules.ValidateCaptionFor("mastodon", string.Concat(Enumerable.Repeat(Flag, 251)), "caption"), "caption");
    }

    [Fact]
    public void A_Bluesky_image_over_2000000_bytes_is_refused()
    {
        PostRules.ValidateMediaFor("bluesky", ["image/png", "image/jpeg"], "targets[0].socialAccountId", [2_000_000, 1]);
        AssertValidation(() => PostRules.ValidateMediaFor("bluesky", ["image/png", "image/jpeg"], "targets[0].socialAccountId", [1, 2_000_001]),
            "targets[0].socialAccountId");
        AssertValidation(() => PostRules.ValidateMediaFor("bluesky", ["video/mp4"], "targets[0].socialAccountId", [1]), "targets[0].socialAccountId");
        PostRules.ValidateMediaFor("mastodon", ["image/png"], "targets[0].socialAccountId", [2_000_001]);
    }

    [Fact]
    public void An_X_video_is_taken_alone_up_to_512_MB_while_images_keep_their_5_MB()
    {
        const string path = "targets[0].socialAccountId";
        PostRules.ValidateMediaFor("x", ["video/mp4"], path, [512L * 1024 * 1024]);
        AssertValidation(() => PostRules.ValidateMediaFor("x", ["video/mp4"], path, [512L * 1024 * 1024 + 1]), path);
        AssertValidation(() => PostRules.ValidateMediaFor("x", ["image/png", "video/mp4"], path, [1, 1]), path);
        AssertValidation(() => PostRules.ValidateMediaFor("x", ["image/png"], path, [5 * 1024 * 1024 + 1]), path);
    }

    [Theory]
    [InlineData("linkedin_person")]
    [InlineData("linkedin_company")]
    public void A_LinkedIn_video_is_taken_alone_up_to_500_MB(string platform)
    {
        const string path = "targets[0].socialAccountId";
        PostRules.ValidateMediaFor(platform, ["video/mp4"], path, [500L * 1024 * 1024]);
        AssertValidation(() => PostRules.ValidateMediaFor(platform, ["video/mp4"], path, [500L * 1024 * 1024 + 1]), path);
        AssertValidation(() => PostRules.ValidateMediaFor(platform, ["video/mp4", "image/png"], path, [1, 1]), path);
        PostRules.ValidateMediaFor(platform, ["image/png", "image/png"], path, [600L * 1024 * 1024, 1]);
    }

    [Fact]
    public void A_Facebook_Page_video_is_taken_alone_up_to_1_GB()
    {
        const string path = "targets[0].socialAccountId";
        PostRules.ValidateMediaFor("facebook_page", ["video/mp4"], path, [1024L * 1024 * 1024]);
        AssertValidation(() => PostRules.ValidateMediaFor("facebook_page", ["video/mp4"], path, [1024L * 1024 * 1024 + 1]), path);
        AssertValidation(() => PostRules.ValidateMediaFor("facebook_page", ["image/png", "video/mp4"], path, [1, 1]), path);
    }

    private static void AssertValidation(Action action, string path)
    {
        var error = Assert.Throws<ApiException>(action);
        Assert.Equal(422, error.Status);
        Assert.Equal("VALIDATION", error.Code);
        Assert.Equal(path, error.Issues![0].Path);
    }
}
