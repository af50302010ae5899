using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.LinkedIn;
using ScheduledPosts.Testing.FakePlatforms;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>The LinkedIn connectors (member and organisation page) against a fake LinkedIn served on a loopback port.</summary>
public sealed class LinkedInConnectorTests : IAsyncLifetime
{
    private static readonly string[] PersonScopes = ["openid", "profile", "w_member_social"];
    private static readonly string[] CompanyScopes = ["rw_organization_admin", "w_organization_social", "r_organization_social"];
    private static readonly string Company = FakeLinkedIn.Organizations[0].Urn;

    // The Videos API takes 75 KB at least: 100,000 bytes, three parts of 40,000 at most (VideoConnector).
    private static readonly byte[] Mp4 = [.. Enumerable.Range(0, 100_000).Select(i => (byte)(i * 7 % 251))];

    // One client for the class's tests, as the factory's pooled handler would be.
    private static readonly HttpClient Http = new();

    private FakeLinkedIn _linkedIn = null!;

    public async Task InitializeAsync() => _linkedIn = await FakeLinkedIn.StartAsync();

    public async Task DisposeAsync() => await _linkedIn.DisposeAsync();

    [Fact]
    public async Task A_member_post_with_a_link_and_two_images_arrives_once_reading_as_written_with_its_images_in_order()
    {
        // Every character the little format reserves, a link with some of them, and a hashtag that stays one.
        const string text = "Launch day (beta) — read https://example.org/a_b?x=1 #launch, thanks @team [v2] *now* <3 ~ok~ {x} | done \\o/";
        var upload = Upload(text, _linkedIn.Credentials(FakeLinkedIn.PersonUrn, PersonScopes)) with
        {
            Media = [Image("one.png", [1, 2, 3], "A rocket on its pad"), Image("two.png", [4, 5, 6, 7], "Lift-off")],
        };

        var published = Assert.IsType<ConnectorResult.Published>(await Connector(Platforms.LinkedInPerson).PublishAsync(upload, CancellationToken.None));

        var post = Assert.Single(_linkedIn.Posts);
        Assert.Equal((post.Urn, $"https://www.linkedin.com/feed/update/{post.Urn}/"), (published.ExternalId, published.Url));
        Assert.Equal(FakeLinkedIn.PersonUrn, post.Author);
        Assert.Equal(text, post.Text);
        Assert.Equal([[1, 2, 3], [4, 5, 6, 7]], post.Images.Select(i => i.Bytes!));
        Assert.Equal(["A rocket on its pad", "Lift-off"], post.Images.Select(i => i.AltText));
        Assert.Equal(1, _linkedIn.CreateRequests);
    }

    [Fact]
    public async Task A_page_post_with_one_image_goes_out_as_the_organisation()
    {
        var upload = Upload("One picture for the page", _linkedIn.Credentials(Company, CompanyScopes)) with { Media = [Image("one.png", [9, 9], null)] };

        Assert.IsType<ConnectorResult.Published>(await Connector(Platforms.LinkedInCompany).PublishAsync(upload, CancellationToken.None));

        var post = Assert.Single(_linkedIn.Posts);
        Assert.Equal((Company, "One picture for the page"), (post.Author, post.Text));
        Assert.Equal([9, 9], Assert.Single(post.Images).Bytes!);
    }

    [Fact]
    public async Task A_rate_limited_create_waits_for_Retry_After_when_LinkedIn_sends_one_and_else_until_its_daily_reset_at_midnight_UTC()
    {
        var clock = new FixedClock(new DateTimeOffset(2026, 12, 3, 22, 30, 0, TimeSpan.Zero));
        string credentials = _linkedIn.Credentials(Company, CompanyScopes);

        _linkedIn.RateLimitNextCreates(1);
        var daily = Assert.IsType<ConnectorResult.Failed>(await Connector(Platforms.LinkedInCompany, clock).PublishAsync(Upload("Busy day", credentials), CancellationToken.None));
        _linkedIn.RateLimitNextCreates(1, retryAfter: TimeSpan.FromSeconds(120));
        var told = Assert.IsType<ConnectorResult.Failed>(await Connector(Platforms.LinkedInCompany, clock).PublishAsync(Upload("Busy day", credentials), CancellationToken.None));

        Assert.Equal((ConnectorErrors.RateLimited, true, TimeSpan.FromMinutes(90)), (daily.Code, daily.Retryable, daily.RetryAfter));
        Assert.Contains(FakeLinkedIn.ThrottleMessage, daily.Message, StringComparison.Ordinal);
        Assert.Equal((ConnectorErrors.RateLimited, TimeSpan.FromSeconds(120)), (told.Code, told.RetryAfter));
        Assert.Empty(_linkedIn.Posts);
    }

    [Fact]
    public async Task An_expired_or_revoked_token_fails_as_invalid_credentials_without_a_retry()
    {
        string credentials = _linkedIn.Credentials(FakeLinkedIn.PersonUrn, PersonScopes);
        _linkedIn.ExpireAccessTokens();
        var expired = Assert.IsType<ConnectorResult.Failed>(await Connector(Platforms.LinkedInPerson).PublishAsync(Upload("Hello", credentials), CancellationToken.None));

        string other = _linkedIn.Credentials(FakeLinkedIn.PersonUrn, PersonScopes);
        _linkedIn.RevokeGrants();
        var revoked = Assert.IsType<ConnectorResult.Failed>(await Connector(Platforms.LinkedInPerson).PublishAsync(
            Upload("Hello", other) with { Media = [Image("one.png", [1], null)] }, CancellationToken.None));

        Assert.Equal((ConnectorErrors.InvalidCredentials, false), (expired.Code, expired.Retryable));
        Assert.Contains("EXPIRED_ACCESS_TOKEN", expired.Message, StringComparison.Ordinal);
        Assert.Equal((ConnectorErrors.InvalidCredentials, false), (revoked.Code, revoked.Retryable));
        Assert.Contains("revoked", revoked.Message, StringComparison.Ordinal);
        Assert.Empty(_linkedIn.Posts);
    }

    [Fact]
    public async Task Content_LinkedIn_refuses_is_rejected_with_its_reason()
    {
        string credentials = _linkedIn.Credentials(Company, CompanyScopes);
        Assert.IsType<ConnectorResult.Published>(await Connector(Platforms.LinkedInCompany).PublishAsync(Upload("Said once", credentials), CancellationToken.None));
        string first = Assert.Single(_linkedIn.Posts).Urn;

        var duplicate = Assert.IsType<ConnectorResult.Failed>(await Connector(Platforms.LinkedInCompany).PublishAsync(Upload("Said once", credentials), CancellationToken.None));
        var tooLong = Assert.IsType<ConnectorResult.Failed>(await Connector(Platforms.LinkedInCompany).PublishAsync(
            Upload(new string('a', FakeLinkedIn.MaxCommentary + 1), credentials), CancellationToken.None));
        // An analyst of a page may not post for it.
        string analyst = _linkedIn.Credentials(FakeLinkedIn.Organizations[2].Urn, CompanyScopes);
        var notAllowed = Assert.IsType<ConnectorResult.Failed>(await Connector(Platforms.LinkedInCompany).PublishAsync(Upload("Hi", analyst), CancellationToken.None));

        Assert.Equal((ConnectorErrors.Rejected, false), (duplicate.Code, duplicate.Retryable));
        Assert.Contains($"Content is a duplicate of {first}", duplicate.Message, StringComparison.Ordinal);
        Assert.Equal((ConnectorErrors.Rejected, false), (tooLong.Code, tooLong.Retryable));
        Assert.Contains("MAX_LENGTH_EXCEEDED", tooLong.Message, StringComparison.Ordinal);
        Assert.Equal((ConnectorErrors.Rejected, false), (notAllowed.Code, notAllowed.Retryable));
        Assert.Contains("403 Forbidden: ACCESS_DENIED", notAllowed.Message, StringComparison.Ordinal);
        Assert.Single(_linkedIn.Posts);
    }

    [Fact]
    public async Task A_post_whose_answer_was_lost_is_found_before_a_retry_and_not_posted_again()
    {
        var firstAttemptAt = DateTimeOffset.UtcNow;
        var upload = Upload("Lost in transit #reach", _linkedIn.Credentials(Company, CompanyScopes), firstAttemptAt) with
        {
            Media = [Image("one.png", [1], "one"), Image("two.png", [2], "two")],
        };
        _linkedIn.LoseNextCreateAnswers(1);

        var lost = Assert.IsType<ConnectorResult.Failed>(await Connector(Platforms.LinkedInCompany).PublishAsync(upload, CancellationToken.None));
        var found = await Connector(Platforms.LinkedInCompany).FindEarlierAsync(upload with { Attempt = 2 }, CancellationToken.None);

        Assert.True(lost.OutcomeUnknown);
        Assert.Equal(ConnectorErrors.NetworkError, lost.Code);
        var post = Assert.Single(_linkedIn.Posts);
        Assert.Equal(post.Urn, Assert.IsType<ConnectorResult.Published>(found).ExternalId);
        Assert.Equal(1, _linkedIn.CreateRequests);
    }

    [Fact]
    public async Task The_lookup_finds_nothing_when_no_post_since_the_first_attempt_has_the_same_text_and_image_count()
    {
        var firstAttemptAt = DateTimeOffset.UtcNow;
        _linkedIn.AddPost(Company, "Same words (older)", firstAttemptAt.AddHours(-1));
        _linkedIn.AddPost(Company, "Other words", firstAttemptAt.AddSeconds(5));
        _linkedIn.AddPost(Company, "Same words (older)", firstAttemptAt.AddSeconds(5), imageCount: 2);
        _linkedIn.AddPost(FakeLinkedIn.Organizations[1].Urn, "Same words (older)", firstAttemptAt.AddSeconds(5));

        var found = await Connector(Platforms.LinkedInCompany).FindEarlierAsync(
            Upload("Same words (older)", _linkedIn.Credentials(Company, CompanyScopes), firstAttemptAt) with { Attempt = 2 }, CancellationToken.None);

        Assert.Null(found);
    }

    [Fact]
    public async Task A_member_whose_posts_cannot_be_read_ends_unknown_rather_than_risk_a_second_copy()
    {
        var upload = Upload("Maybe posted", _linkedIn.Credentials(FakeLinkedIn.PersonUrn, PersonScopes), DateTimeOffset.UtcNow) with { Attempt = 2 };
        var readable = upload with { CredentialsJson = _linkedIn.Credentials(FakeLinkedIn.PersonUrn, [.. PersonScopes, "r_member_social"]) };
        _linkedIn.LoseNextCreateAnswers(1);
        Assert.IsType<ConnectorResult.Failed>(await Connector(Platforms.LinkedInPerson).PublishAsync(upload, CancellationToken.None));

        var refused = Assert.IsType<ConnectorResult.Failed>(await Connector(Platforms.LinkedInPerson).FindEarlierAsync(upload, CancellationToken.None));
        var found = await Connector(Platforms.LinkedInPerson).FindEarlierAsync(readable, CancellationToken.None);

        Assert.Equal((ConnectorErrors.UnknownOutcome, false), (refused.Code, refused.Retryable));
        Assert.Equal(Assert.Single(_linkedIn.Posts).Urn, Assert.IsType<ConnectorResult.Published>(found).ExternalId);
    }

    [Theory]
    [InlineData("{}", "no accessToken")]
    [InlineData("""{"accessToken": "AQV-1"}""", "no author")]
    [InlineData("""{"accessToken": "AQV-1", "author": "urn:li:person:abc"}""", "not a urn:li:organization:")]
    [InlineData("not json", "not a JSON object")]
    public async Task Credentials_without_a_token_or_the_right_author_fail_clearly_and_send_nothing(string credentials, string expected)
    {
        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector(Platforms.LinkedInCompany).PublishAsync(Upload("Hi", credentials), CancellationToken.None));
        var lookup = Assert.IsType<ConnectorResult.Failed>(await Connector(Platforms.LinkedInCompany).FindEarlierAsync(Upload("Hi", credentials), CancellationToken.None));

        Assert.Equal((ConnectorErrors.InvalidCredentials, false), (failed.Code, failed.Retryable));
        Assert.Contains(expected, failed.Message, StringComparison.Ordinal);
        Assert.Equal(ConnectorErrors.InvalidCredentials, lookup.Code);
        Assert.Equal(0, _linkedIn.CreateRequests);
    }

    [Fact]
    public void Both_platforms_are_registered_with_their_own_capabilities()
    {
        Assert.Equal(Platforms.LinkedInPerson, Connector(Platforms.LinkedInPerson).Capabilities.Platform);
        Assert.Equal(Platforms.LinkedInCompany, Connector(Platforms.LinkedInCompany).Capabilities.Platform);
        Assert.True(Connector(Platforms.LinkedInCompany).Capabilities.RetryAfterUnknownOutcomeIsSafe);
    }

    [Fact]
    public async Task A_page_video_post_arrives_once_with_the_exact_bytes_uploaded_in_parts()
    {
        var upload = Upload("Our launch, in motion", _linkedIn.Credentials(Company, CompanyScopes)) with { Media = [Video("launch.mp4", Mp4.Length)] };

        var published = Assert.IsType<ConnectorResult.Published>(await VideoConnector(Platforms.LinkedInCompany).PublishAsync(upload, CancellationToken.None));

        var post = Assert.Single(_linkedIn.Posts);
        Assert.Equal((post.Urn, Company, "Our launch, in motion"), (published.ExternalId, post.Author, post.Text));
        Assert.Empty(post.Images);
        Assert.Equal(Mp4, post.Video!.Bytes);
        Assert.Equal(1, _linkedIn.CreateRequests);
    }

    [Fact]
    public async Task A_member_video_still_processing_for_a_few_reads_is_posted_once_available()
    {
        _linkedIn.VideoProcessingPolls = 3;
        var upload = Upload("Processed in the end", _linkedIn.Credentials(FakeLinkedIn.PersonUrn, PersonScopes)) with { Media = [Video("clip.mp4", Mp4.Length)] };

        Assert.IsType<ConnectorResult.Published>(await VideoConnector(Platforms.LinkedInPerson).PublishAsync(upload, CancellationToken.None));

        // Three reads PROCESSING, the fourth AVAILABLE.
        Assert.Equal(4, _linkedIn.VideoStatusRequests);
        Assert.Equal(Mp4, Assert.Single(_linkedIn.Posts).Video!.Bytes);
    }

    [Fact]
    public async Task A_video_LinkedIn_fails_to_process_is_rejected_with_its_reason_and_nothing_is_posted()
    {
        _linkedIn.VideoProcessingPolls = 1;
        _linkedIn.FailNextVideoProcessing("Video codec is not supported");
        var upload = Upload("Broken clip", _linkedIn.Credentials(Company, CompanyScopes)) with { Media = [Video("broken.mp4", Mp4.Length)] };

        var failed = Assert.IsType<ConnectorResult.Failed>(await VideoConnector(Platforms.LinkedInCompany).PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.Rejected, false), (failed.Code, failed.Retryable));
        Assert.Contains("Video codec is not supported", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_linkedIn.Posts);
        Assert.Equal(0, _linkedIn.CreateRequests);
    }

    [Fact]
    public async Task A_video_still_processing_when_the_bound_runs_out_fails_retryably_and_is_not_an_unknown_outcome()
    {
        _linkedIn.VideoProcessingPolls = int.MaxValue;
        var upload = Upload("Never ready", _linkedIn.Credentials(Company, CompanyScopes)) with { Media = [Video("never.mp4", Mp4.Length)] };

        var failed = Assert.IsType<ConnectorResult.Failed>(
            await VideoConnector(Platforms.LinkedInCompany, TimeSpan.FromMilliseconds(300)).PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.MediaNotReady, true, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Empty(_linkedIn.Posts);
    }

    [Fact]
    public async Task A_video_post_whose_answer_was_lost_is_found_before_a_retry()
    {
        var upload = Upload("Video, answer lost", _linkedIn.Credentials(Company, CompanyScopes), DateTimeOffset.UtcNow) with { Media = [Video("lost.mp4", Mp4.Length)] };
        _linkedIn.LoseNextCreateAnswers(1);

        var lost = Assert.IsType<ConnectorResult.Failed>(await VideoConnector(Platforms.LinkedInCompany).PublishAsync(upload, CancellationToken.None));
        var found = await VideoConnector(Platforms.LinkedInCompany).FindEarlierAsync(upload with { Attempt = 2 }, CancellationToken.None);

        Assert.True(lost.OutcomeUnknown);
        Assert.Equal(Assert.Single(_linkedIn.Posts).Urn, Assert.IsType<ConnectorResult.Published>(found).ExternalId);
        Assert.Equal(1, _linkedIn.CreateRequests);
    }

    [Fact]
    public async Task A_video_with_an_image_or_over_500_MB_is_refused_before_anything_is_sent()
    {
        string credentials = _linkedIn.Credentials(Company, CompanyScopes);
        var withImage = Upload("Both", credentials) with { Media = [Video("a.mp4", Mp4.Length), Image("b.png", [1], null)] };
        var tooLarge = Upload("Huge", credentials) with { Media = [Video("huge.mp4", 500L * 1024 * 1024 + 1)] };

        foreach (var upload in new[] { withImage, tooLarge })
        {
            var failed = Assert.IsType<ConnectorResult.Failed>(await VideoConnector(Platforms.LinkedInCompany).PublishAsync(upload, CancellationToken.None));
            Assert.Equal((ConnectorErrors.Rejected, false), (failed.Code, failed.Retryable));
        }

        Assert.Equal(0, _linkedIn.CreateRequests);
        Assert.Equal(0, _linkedIn.VideoStatusRequests);
    }

    private LinkedInConnector VideoConnector(string platform, TimeSpan? timeout = null)
    {
        _linkedIn.VideoPartBytes = 40_000;
        var options = new LinkedInOptions
        {
            BaseUrl = _linkedIn.BaseUrl,
            MediaPollInterval = TimeSpan.FromMilliseconds(10),
            MediaProcessingTimeout = timeout ?? TimeSpan.FromSeconds(10),
        };
        return new(platform, new LinkedInClient(Http, Options.Create(options), TimeProvider.System, NullLogger<LinkedInClient>.Instance));
    }

    private static UploadMedia Video(string name, long length)
        => new(name, "video/mp4", _ => Task.FromResult<Stream>(new MemoryStream(Mp4)), null, length);

    private LinkedInConnector Connector(string platform, TimeProvider? clock = null)
        => new(platform, new LinkedInClient(Http, Options.Create(new LinkedInOptions { BaseUrl = _linkedIn.BaseUrl }), clock ?? TimeProvider.System,
            NullLogger<LinkedInClient>.Instance));

    private static Upload Upload(string text, string credentials, DateTimeOffset? firstAttemptAt = null)
        => new("tgt_1", "handle", text, "idem-1", credentials, FirstAttemptAt: firstAttemptAt ?? DateTimeOffset.UtcNow);

    private static UploadMedia Image(string name, byte[] bytes, string? alt)
        => new(name, "image/png", _ => Task.FromResult<Stream>(new MemoryStream(bytes)), alt, bytes.Length);

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
