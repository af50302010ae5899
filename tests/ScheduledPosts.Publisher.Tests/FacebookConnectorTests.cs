using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.Facebook;
using ScheduledPosts.Testing.FakePlatforms;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>The Facebook Page connector against FakeFacebook, a loopback server built from Meta's Graph API pages.</summary>
public sealed class FacebookConnectorTests : IAsyncLifetime
{
    // Graph takes a video of 1 KB at least.
    private static readonly byte[] Mp4 = [.. Enumerable.Range(0, 2_000).Select(i => (byte)(i * 13 % 251))];

    private FakeFacebook _facebook = null!;

    public async Task InitializeAsync() => _facebook = await FakeFacebook.StartAsync();

    public async Task DisposeAsync() => await _facebook.DisposeAsync();

    [Fact]
    public async Task A_post_with_a_link_and_two_images_arrives_once_with_the_images_bytes_in_order()
    {
        const string text = "Fresh bread at 7 — details: https://example.org/bread?day=1 🥖";
        var upload = Upload(text) with { Media = [Image("one.png", 0x11, 5), Image("two.jpg", 0x22, 9, "image/jpeg")] };

        var published = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        var post = Assert.Single(_facebook.Posts);
        Assert.Equal(post.Id, published.ExternalId);
        Assert.StartsWith($"{FakeFacebook.PageId}_", published.ExternalId, StringComparison.Ordinal);
        Assert.Equal(post.PermalinkUrl, published.Url);
        Assert.Equal(text, post.Message);
        Assert.Equal(2, post.Photos.Count);
        Assert.Equal([0x11, 0x11, 0x11, 0x11, 0x11], post.Photos[0].Bytes);
        Assert.Equal(("image/png", "one.png"), (post.Photos[0].ContentType, post.Photos[0].FileName));
        Assert.Equal(Enumerable.Repeat((byte)0x22, 9), post.Photos[1].Bytes);
        Assert.Equal("image/jpeg", post.Photos[1].ContentType);
        Assert.Single(_facebook.Requests, r => r.EndsWith("/feed", StringComparison.Ordinal) && r.StartsWith("POST", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_text_post_names_its_first_link_for_the_preview()
    {
        var published = Assert.IsType<ConnectorResult.Published>(
            await Connector().PublishAsync(Upload("Our menu: https://example.org/menu. See you!"), CancellationToken.None));

        var post = Assert.Single(_facebook.Posts);
        Assert.Equal("https://example.org/menu", post.Link);
        Assert.Empty(post.Photos);
        Assert.Equal(post.Id, published.ExternalId);
    }

    [Fact]
    public async Task A_rate_limited_Page_is_retried_after_the_time_Facebook_names_in_its_usage_header()
    {
        _facebook.RateLimitNextCreates(1, minutes: 7);

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Hello"), CancellationToken.None));

        Assert.Equal(ConnectorErrors.RateLimited, failed.Code);
        Assert.True(failed.Retryable);
        Assert.False(failed.OutcomeUnknown);
        Assert.Equal(TimeSpan.FromMinutes(7), failed.RetryAfter);
        Assert.Contains("#80001", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_facebook.Posts);
    }

    [Fact]
    public async Task An_expired_Page_token_fails_as_invalid_credentials_and_posts_nothing()
    {
        string credentials = _facebook.Credentials();
        _facebook.ExpireTokens();

        var failed = Assert.IsType<ConnectorResult.Failed>(
            await Connector().PublishAsync(Upload("Hello") with { CredentialsJson = credentials, Media = [Image("one.png", 1, 3)] }, CancellationToken.None));

        Assert.Equal(ConnectorErrors.InvalidCredentials, failed.Code);
        Assert.False(failed.Retryable);
        Assert.Contains("#190/463", failed.Message, StringComparison.Ordinal);
        Assert.Contains("connect the Page again", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_facebook.Posts);
    }

    [Fact]
    public async Task A_revoked_grant_fails_as_invalid_credentials()
    {
        string credentials = _facebook.Credentials();
        _facebook.RevokeGrant();

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Hello") with { CredentialsJson = credentials }, CancellationToken.None));

        Assert.Equal(ConnectorErrors.InvalidCredentials, failed.Code);
        Assert.Contains("#190/458", failed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refused_content_is_rejected_with_Facebooks_reason_cleaned_of_control_characters()
    {
        _facebook.RejectNextCreate(506, "Duplicate status message\u0007\nplease change it");

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Hello again"), CancellationToken.None));

        Assert.Equal(ConnectorErrors.Rejected, failed.Code);
        Assert.False(failed.Retryable);
        Assert.Contains("#506: Duplicate status message please change it", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_facebook.Posts);
    }

    [Fact]
    public async Task A_lost_answer_is_an_unknown_outcome_and_the_retry_finds_the_post_instead_of_posting_again()
    {
        var upload = Upload("Opening hours changed") with { Media = [Image("one.png", 1, 3), Image("two.png", 2, 4)], FirstAttemptAt = DateTimeOffset.UtcNow };
        _facebook.LoseNextCreateAnswer();

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(upload, CancellationToken.None));
        Assert.True(failed.OutcomeUnknown);
        Assert.True(failed.Retryable);
        var post = Assert.Single(_facebook.Posts);

        // A post with the same text but no photos does not count as the earlier attempt's.
        Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(Upload("Opening hours changed"), CancellationToken.None));

        var found = Assert.IsType<ConnectorResult.Published>(await Connector().FindEarlierAsync(upload with { Attempt = 2 }, CancellationToken.None));
        Assert.Equal(post.Id, found.ExternalId);
        Assert.Equal(post.PermalinkUrl, found.Url);
        Assert.Equal(2, _facebook.Posts.Count);
    }

    [Fact]
    public async Task Through_the_publisher_a_lost_answer_is_retried_and_recorded_as_the_post_already_made_without_a_second_copy()
    {
        await using var scheduling = await FakeScheduling.StartAsync();
        string credentials = _facebook.Credentials();
        var firstClaim = DateTimeOffset.UtcNow;
        int attempt = 0;
        scheduling.Targets.OnClaim = request =>
        {
            var claim = FakeTargetsService.Granted(request, Platforms.FacebookPage, FakeFacebook.PageName, "Closed on Monday");
            claim.Target.CredentialsJson = credentials;
            claim.Target.Attempt = ++attempt;
            claim.Target.FirstClaimedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(firstClaim);
            return claim;
        };
        var publisher = TargetPublisherTests.Publish(scheduling, [Connector()]);
        _facebook.LoseNextCreateAnswer();

        await publisher.PublishAsync(new Contracts.Messages.TargetDue("post_1", "tgt_1", 1), CancellationToken.None);
        await publisher.PublishAsync(new Contracts.Messages.TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        var post = Assert.Single(_facebook.Posts);
        var completions = scheduling.Targets.Completions.ToArray();
        Assert.Equal(2, completions.Length);
        Assert.Equal((ConnectorErrors.NetworkError, true), (completions[0].Failed.ErrorCode, completions[0].Failed.Retryable));
        Assert.Equal((post.Id, post.PermalinkUrl), (completions[1].Published.ExternalPostId, completions[1].Published.ExternalUrl));
        Assert.Single(_facebook.Requests, r => r.StartsWith("POST", StringComparison.Ordinal) && r.EndsWith("/feed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_photo_post_without_text_is_found_by_its_photo_count()
    {
        var upload = Upload("") with { Media = [Image("one.png", 1, 3)], FirstAttemptAt = DateTimeOffset.UtcNow, Attempt = 2 };
        Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(Upload("Line one\r\nline two"), CancellationToken.None));
        Assert.Null(await Connector().FindEarlierAsync(upload, CancellationToken.None));

        var published = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Null(_facebook.Posts[1].Message);
        var found = Assert.IsType<ConnectorResult.Published>(await Connector().FindEarlierAsync(upload, CancellationToken.None));
        Assert.Equal(published.ExternalId, found.ExternalId);
        var text = Assert.IsType<ConnectorResult.Published>(await Connector().FindEarlierAsync(
            Upload("Line one\nline two ") with { FirstAttemptAt = DateTimeOffset.UtcNow.AddMinutes(-1) }, CancellationToken.None));
        Assert.Equal(_facebook.Posts[0].Id, text.ExternalId);
    }

    [Fact]
    public async Task The_lookup_reads_past_the_first_page_of_the_feed()
    {
        var upload = Upload("The one to find") with { FirstAttemptAt = DateTimeOffset.UtcNow.AddMinutes(-1) };
        Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));
        for (int i = 0; i < 30; i++)
        {
            Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(Upload($"Later post {i}"), CancellationToken.None));
        }

        var found = Assert.IsType<ConnectorResult.Published>(await Connector().FindEarlierAsync(upload, CancellationToken.None));

        Assert.Equal(_facebook.Posts[0].Id, found.ExternalId);
    }

    [Fact]
    public async Task The_lookup_finds_nothing_when_no_post_since_the_first_attempt_has_the_text()
    {
        Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(Upload("Something else"), CancellationToken.None));

        var found = await Connector().FindEarlierAsync(Upload("Never posted") with { FirstAttemptAt = DateTimeOffset.UtcNow.AddMinutes(-5), Attempt = 2 },
            CancellationToken.None);

        Assert.Null(found);
    }

    [Fact]
    public async Task A_lookup_that_fails_says_so_rather_than_finding_nothing()
    {
        string credentials = _facebook.Credentials();
        _facebook.ExpireTokens();

        var found = await Connector().FindEarlierAsync(Upload("Anything") with { CredentialsJson = credentials, Attempt = 2 }, CancellationToken.None);

        var failed = Assert.IsType<ConnectorResult.Failed>(found);
        Assert.Equal(ConnectorErrors.InvalidCredentials, failed.Code);
    }

    [Theory]
    [InlineData("{}", "no accessToken")]
    [InlineData("""{"accessToken": "EAA1"}""", "no pageId")]
    [InlineData("""{"accessToken": "EAA1", "pageId": "../me"}""", "not a Page id")]
    [InlineData("not json", "not a JSON object")]
    public async Task Missing_credentials_fail_clearly_and_nothing_is_sent(string credentials, string problem)
    {
        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Hello") with { CredentialsJson = credentials }, CancellationToken.None));

        Assert.Equal(ConnectorErrors.InvalidCredentials, failed.Code);
        Assert.Contains(problem, failed.Message, StringComparison.Ordinal);
        Assert.Empty(_facebook.Requests);
    }

    [Fact]
    public async Task A_video_post_arrives_once_with_the_exact_bytes_and_the_text_as_its_description()
    {
        var upload = Upload("Our bakery, in motion 🥖") with { Media = [Video("bake.mp4")] };

        var published = Assert.IsType<ConnectorResult.Published>(await VideoConnector().PublishAsync(upload, CancellationToken.None));

        var post = Assert.Single(_facebook.Posts);
        var video = post.Video!;
        Assert.Equal((video.Id, $"https://www.facebook.com/{FakeFacebook.PageId}/videos/{video.Id}/"), (published.ExternalId, published.Url));
        Assert.Equal(Mp4, video.Bytes);
        Assert.Equal(("video/mp4", "bake.mp4", "Our bakery, in motion 🥖"), (video.ContentType, video.FileName, video.Description));
        Assert.Equal("Our bakery, in motion 🥖", post.Message);
        Assert.Empty(post.Photos);
        Assert.Single(_facebook.Requests, r => r.StartsWith("POST", StringComparison.Ordinal) && r.EndsWith("/videos", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_video_still_processing_for_a_few_reads_is_published_once_ready()
    {
        _facebook.VideoProcessingPolls = 3;

        var published = Assert.IsType<ConnectorResult.Published>(
            await VideoConnector().PublishAsync(Upload("Processed in the end") with { Media = [Video("clip.mp4")] }, CancellationToken.None));

        // Three reads say processing, the fourth ready.
        Assert.Equal(4, _facebook.VideoStatusRequests);
        Assert.Equal(Assert.Single(_facebook.Posts).Video!.Id, published.ExternalId);
    }

    [Fact]
    public async Task A_video_Facebook_fails_to_process_is_rejected_with_its_reason()
    {
        _facebook.VideoProcessingPolls = 1;
        _facebook.FailNextVideoProcessing("The video file is corrupt");

        var failed = Assert.IsType<ConnectorResult.Failed>(
            await VideoConnector().PublishAsync(Upload("Broken clip") with { Media = [Video("broken.mp4")] }, CancellationToken.None));

        Assert.Equal((ConnectorErrors.Rejected, false), (failed.Code, failed.Retryable));
        Assert.Contains("The video file is corrupt", failed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_video_still_processing_at_the_bound_fails_retryably_and_the_lookup_before_the_retry_finds_it_so_it_is_not_posted_again()
    {
        _facebook.VideoProcessingPolls = int.MaxValue;
        var upload = Upload("Slow clip") with { Media = [Video("slow.mp4")], FirstAttemptAt = DateTimeOffset.UtcNow };

        var failed = Assert.IsType<ConnectorResult.Failed>(await VideoConnector(TimeSpan.FromMilliseconds(300)).PublishAsync(upload, CancellationToken.None));
        var found = Assert.IsType<ConnectorResult.Published>(await VideoConnector().FindEarlierAsync(upload with { Attempt = 2 }, CancellationToken.None));

        Assert.Equal((ConnectorErrors.MediaNotReady, true, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Equal(Assert.Single(_facebook.Posts).Video!.Id, found.ExternalId);
    }

    [Fact]
    public async Task A_lost_answer_to_a_video_is_an_unknown_outcome_and_the_lookup_finds_the_video_but_not_a_failed_one()
    {
        var firstAttemptAt = DateTimeOffset.UtcNow;
        var failedEarlier = Upload("Video, answer lost") with { Media = [Video("bad.mp4")], FirstAttemptAt = firstAttemptAt };
        _facebook.FailNextVideoProcessing("Unsupported codec");
        Assert.IsType<ConnectorResult.Failed>(await VideoConnector().PublishAsync(failedEarlier, CancellationToken.None));
        Assert.Null(await VideoConnector().FindEarlierAsync(failedEarlier with { Attempt = 2 }, CancellationToken.None));
        var upload = Upload("Video, answer lost") with { Media = [Video("lost.mp4")], FirstAttemptAt = firstAttemptAt };
        _facebook.LoseNextCreateAnswer();

        var lost = Assert.IsType<ConnectorResult.Failed>(await VideoConnector().PublishAsync(upload, CancellationToken.None));
        var found = Assert.IsType<ConnectorResult.Published>(await VideoConnector().FindEarlierAsync(upload with { Attempt = 2 }, CancellationToken.None));

        Assert.True(lost.OutcomeUnknown);
        Assert.Equal(_facebook.Posts[^1].Video!.Id, found.ExternalId);
        // A text-only retry of the same words does not take the video post for its own.
        Assert.Null(await VideoConnector().FindEarlierAsync(Upload("Video, answer lost") with { FirstAttemptAt = firstAttemptAt, Attempt = 2 }, CancellationToken.None));
    }

    [Fact]
    public async Task A_video_with_an_image_or_over_1_GB_is_refused_before_anything_is_sent()
    {
        var withImage = Upload("Both") with { Media = [Video("a.mp4"), Image("b.png", 1, 3)] };
        var tooLarge = Upload("Huge") with { Media = [Video("huge.mp4") with { Length = 1024L * 1024 * 1024 + 1 }] };

        foreach (var upload in new[] { withImage, tooLarge })
        {
            var failed = Assert.IsType<ConnectorResult.Failed>(await VideoConnector().PublishAsync(upload, CancellationToken.None));
            Assert.Equal((ConnectorErrors.Rejected, false), (failed.Code, failed.Retryable));
        }

        Assert.Empty(_facebook.Requests);
    }

    [Fact]
    public void The_capabilities_are_the_tables_and_retrying_after_an_unknown_outcome_is_safe()
    {
        var capabilities = Connector().Capabilities;

        Assert.Same(Platforms.Known[Platforms.FacebookPage], capabilities);
        Assert.Equal("facebook_page", capabilities.Platform);
        Assert.True(capabilities.RetryAfterUnknownOutcomeIsSafe);
        Assert.False(capabilities.SupportsIdempotencyKey);
        Assert.Equal([MediaKind.Image, MediaKind.Video], capabilities.MediaKinds);
        Assert.True(capabilities.VideoOrAudioAlone);
    }

    private FacebookConnector Connector()
    {
        var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var options = Options.Create(new FacebookOptions { BaseUrl = _facebook.BaseUrl });
        return new FacebookConnector(http, options, TimeProvider.System, NullLogger<FacebookConnector>.Instance);
    }

    private FacebookConnector VideoConnector(TimeSpan? timeout = null)
    {
        var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var options = Options.Create(new FacebookOptions
        {
            BaseUrl = _facebook.BaseUrl,
            MediaPollInterval = TimeSpan.FromMilliseconds(10),
            MediaProcessingTimeout = timeout ?? TimeSpan.FromSeconds(10),
        });
        return new FacebookConnector(http, options, TimeProvider.System, NullLogger<FacebookConnector>.Instance);
    }

    private static UploadMedia Video(string name) => new(name, "video/mp4", _ => Task.FromResult<Stream>(new MemoryStream(Mp4)), null, Mp4.Length);

    private Upload Upload(string text) => new($"tgt_{Guid.NewGuid():N}", FakeFacebook.PageName, text, $"key-{Guid.NewGuid():N}", _facebook.Credentials());

    private static UploadMedia Image(string name, byte fill, int size, string contentType = "image/png")
    {
        var bytes = Enumerable.Repeat(fill, size).ToArray();
        return new UploadMedia(name, contentType, _ => Task.FromResult<Stream>(new MemoryStream(bytes)), null, size);
    }
}
