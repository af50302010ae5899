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
    public async Task A_video_is_refused_before_anything_is_sent()
    {
        var video = new UploadMedia("clip.mp4", "video/mp4", _ => Task.FromResult<Stream>(new MemoryStream([1, 2, 3])), Length: 3);

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Watch") with { Media = [video] }, CancellationToken.None));

        Assert.Equal(ConnectorErrors.Rejected, failed.Code);
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
        Assert.Equal([MediaKind.Image], capabilities.MediaKinds);
    }

    private FacebookConnector Connector()
    {
        var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var options = Options.Create(new FacebookOptions { BaseUrl = _facebook.BaseUrl });
        return new FacebookConnector(http, options, TimeProvider.System, NullLogger<FacebookConnector>.Instance);
    }

    private Upload Upload(string text) => new($"tgt_{Guid.NewGuid():N}", FakeFacebook.PageName, text, $"key-{Guid.NewGuid():N}", _facebook.Credentials());

    private static UploadMedia Image(string name, byte fill, int size, string contentType = "image/png")
    {
        var bytes = Enumerable.Repeat(fill, size).ToArray();
        return new UploadMedia(name, contentType, _ => Task.FromResult<Stream>(new MemoryStream(bytes)), null, size);
    }
}
