using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.X;
using ScheduledPosts.Testing.FakePlatforms;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>The X connector against FakeX, a loopback server built from X's API v2 documentation.</summary>
public sealed class XConnectorTests : IAsyncLifetime
{
    private static readonly byte[] Png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3];
    private static readonly byte[] Jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 9, 8, 7, 6];

    // An MP4's first box is ftyp: 21 bytes, three chunks of 7 (VideoConnector).
    private static readonly byte[] Mp4 = [0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70, 0x6D, 0x70, 0x34, 0x32, 1, 2, 3, 4, 5, 6, 7, 8, 9];

    private FakeX _x = null!;
    private string _token = null!;

    public async Task InitializeAsync()
    {
        _x = await FakeX.StartAsync();
        _token = _x.GrantAccessToken();
    }

    public async Task DisposeAsync() => await _x.DisposeAsync();

    [Fact]
    public async Task A_post_with_a_link_and_two_images_arrives_once_with_the_images_in_order_and_their_alt_texts()
    {
        const string text = "Launch day 🚀 — details: https://example.org/launch?x=1&y=2 <3";
        var upload = Upload(text) with { Media = [Image("one.png", "image/png", Png, "A rocket on its pad"), Image("two.jpg", "image/jpeg", Jpeg, null)] };

        var published = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        var post = Assert.Single(_x.Posts);
        Assert.Equal(text, post.Text);
        Assert.Equal(FakeX.UserId, post.AuthorId);
        Assert.Equal((post.Id, $"https://x.com/{FakeX.Username}/status/{post.Id}"), (published.ExternalId, published.Url));
        Assert.Equal([Png, Jpeg], post.Media.Select(m => m.Bytes));
        Assert.Equal(["image/png", "image/jpeg"], post.Media.Select(m => m.ContentType));
        Assert.Equal(["A rocket on its pad", null], post.Media.Select(m => m.AltText));
        Assert.Equal(1, _x.CreateRequests);
        Assert.All(_x.Requests, r => Assert.Equal($"Bearer {_token}", r.Authorization));
    }

    [Fact]
    public async Task A_429_is_rate_limited_until_the_reset_X_names_and_nothing_is_posted()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        _x.RateLimitCreates(1, now.AddSeconds(417));

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector(new FixedClock(now)).PublishAsync(Upload("Too soon"), CancellationToken.None));

        Assert.Equal((ConnectorErrors.RateLimited, true, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Equal(TimeSpan.FromSeconds(417), failed.RetryAfter);
        Assert.Empty(_x.Posts);
    }

    [Fact]
    public async Task An_expired_access_token_fails_as_invalid_credentials_before_anything_is_posted()
    {
        _x.ExpireAccessTokens();

        var upload = Upload("Expired") with { Media = [Image("one.png", "image/png", Png, "alt")] };
        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.InvalidCredentials, false), (failed.Code, failed.Retryable));
        Assert.Contains("401", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_x.Posts);
        Assert.Equal(0, _x.CreateRequests);
    }

    [Fact]
    public async Task A_revoked_grant_fails_as_invalid_credentials()
    {
        _x.RevokeGrants();

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Revoked"), CancellationToken.None));

        Assert.Equal((ConnectorErrors.InvalidCredentials, false), (failed.Code, failed.Retryable));
        Assert.Empty(_x.Posts);
    }

    [Fact]
    public async Task Duplicate_content_is_rejected_with_X_reason_and_not_retried()
    {
        Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(Upload("Same words"), CancellationToken.None));

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Same words"), CancellationToken.None));

        Assert.Equal((ConnectorErrors.Rejected, false), (failed.Code, failed.Retryable));
        Assert.Contains("You are not allowed to create a Tweet with duplicate content.", failed.Message, StringComparison.Ordinal);
        Assert.Single(_x.Posts);
    }

    [Fact]
    public async Task A_lost_answer_is_an_unknown_outcome_and_the_lookup_before_the_retry_finds_the_post_so_nothing_is_sent_again()
    {
        var firstAttemptAt = DateTimeOffset.UtcNow;
        const string text = "Lost & found: https://example.org/a-rather-long-link/that-x-shortens";
        var upload = Upload(text) with { Media = [Image("one.png", "image/png", Png, "one"), Image("two.png", "image/png", Png, "two")], FirstAttemptAt = firstAttemptAt };
        _x.AddPost("Something else entirely", firstAttemptAt.AddSeconds(1));
        _x.LoseNextCreateAnswer();

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(upload, CancellationToken.None));
        Assert.True(failed.OutcomeUnknown);
        Assert.True(failed.Retryable);

        var retry = upload with { Attempt = 2 };
        var found = Assert.IsType<ConnectorResult.Published>(await Connector().FindEarlierAsync(retry, CancellationToken.None));

        var post = Assert.Single(_x.Posts, p => p.Text == text);
        Assert.Equal(post.Id, found.ExternalId);
        Assert.Equal($"https://x.com/{FakeX.Username}/status/{post.Id}", found.Url);
        Assert.Equal(1, _x.CreateRequests);
        // What the lookup read had the link shortened, the media link appended and the ampersand escaped.
        Assert.NotEqual(text, FakeX.Rendered(post));
    }

    [Fact]
    public async Task The_lookup_finds_nothing_when_no_post_since_the_first_attempt_has_the_same_text_and_media()
    {
        var firstAttemptAt = DateTimeOffset.UtcNow;
        _x.AddPost("Hello world", firstAttemptAt.AddMinutes(-30)); // the same words, long before
        _x.AddPost("Hello world", firstAttemptAt.AddSeconds(5), media: 1); // the same words with an image
        _x.AddPost("Hello world!", firstAttemptAt.AddSeconds(6)); // other words

        var upload = Upload("Hello world") with { FirstAttemptAt = firstAttemptAt, Attempt = 2 };

        Assert.Null(await Connector().FindEarlierAsync(upload, CancellationToken.None));
    }

    [Fact]
    public async Task The_lookup_reads_further_pages_of_the_timeline()
    {
        var firstAttemptAt = DateTimeOffset.UtcNow.AddMinutes(-10);
        var wanted = _x.AddPost("The one", firstAttemptAt.AddSeconds(1));
        for (int i = 0; i < 120; i++)
        {
            _x.AddPost($"Later {i}", firstAttemptAt.AddSeconds(10 + i));
        }

        var found = Assert.IsType<ConnectorResult.Published>(
            await Connector().FindEarlierAsync(Upload("The one") with { FirstAttemptAt = firstAttemptAt, Attempt = 2 }, CancellationToken.None));

        Assert.Equal(wanted.Id, found.ExternalId);
        Assert.Equal(2, _x.Requests.Count(r => r.Path == $"/2/users/{FakeX.UserId}/tweets"));
    }

    [Fact]
    public async Task A_create_that_never_connected_is_retryable_and_not_an_unknown_outcome()
    {
        // A port held but not listening: connecting is refused, so the request is never sent.
        using var held = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        held.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var closed = new Uri($"http://127.0.0.1:{((IPEndPoint)held.LocalEndPoint!).Port}/");

        var connector = new XConnector(new HttpClient { BaseAddress = closed }, Options.Create(new XOptions { BaseUrl = closed }),
            TimeProvider.System, NullLogger<XConnector>.Instance);
        var failed = Assert.IsType<ConnectorResult.Failed>(await connector.PublishAsync(Upload("Nobody listening"), CancellationToken.None));

        Assert.Equal((ConnectorErrors.NetworkError, true, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
    }

    [Theory]
    [InlineData("{}", "no accessToken")]
    [InlineData("not json", "not a JSON object")]
    public async Task Missing_credentials_fail_clearly_and_send_nothing(string credentials, string expected)
    {
        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Hi") with { CredentialsJson = credentials }, CancellationToken.None));

        Assert.Equal((ConnectorErrors.InvalidCredentials, false), (failed.Code, failed.Retryable));
        Assert.Contains(expected, failed.Message, StringComparison.Ordinal);
        Assert.Empty(_x.Requests);
    }

    [Fact]
    public async Task The_lookup_without_a_userId_fails_rather_than_report_nothing_found()
    {
        var credentials = new JsonObject { ["accessToken"] = _token }.ToJsonString();

        var failed = Assert.IsType<ConnectorResult.Failed>(
            await Connector().FindEarlierAsync(Upload("Hi") with { CredentialsJson = credentials, Attempt = 2 }, CancellationToken.None));

        Assert.Contains("userId", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_x.Requests);
    }

    [Fact]
    public async Task An_animated_gif_is_refused_before_anything_is_sent()
    {
        var upload = Upload("Gif") with { Media = [Image("a.gif", "image/gif", [0x47, 0x49, 0x46], null)] };

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.Rejected, false), (failed.Code, failed.Retryable));
        Assert.Empty(_x.Requests);
    }

    [Fact]
    public async Task A_video_post_arrives_once_with_the_exact_bytes_sent_in_chunks()
    {
        var upload = Upload("Our launch, in motion") with { Media = [Image("launch.mp4", "video/mp4", Mp4, null)] };

        var published = Assert.IsType<ConnectorResult.Published>(await VideoConnector().PublishAsync(upload, CancellationToken.None));

        var post = Assert.Single(_x.Posts);
        Assert.Equal(("Our launch, in motion", post.Id), (post.Text, published.ExternalId));
        var video = Assert.Single(post.Media);
        Assert.Equal(Mp4, video.Bytes);
        Assert.Equal("video/mp4", video.ContentType);
        // INIT, three APPENDs of 7 bytes, FINALIZE.
        Assert.Equal(5, _x.Requests.Count(r => r is { Method: "POST", Path: "/2/media/upload" }));
        Assert.Equal(1, _x.CreateRequests);
    }

    [Fact]
    public async Task A_video_that_takes_a_few_status_polls_to_process_is_posted_once_it_succeeded()
    {
        _x.VideoProcessingPolls = 3;
        _x.CheckAfterSecs = 0;
        var upload = Upload("Processed in the end") with { Media = [Image("clip.mp4", "video/mp4", Mp4, null)] };

        Assert.IsType<ConnectorResult.Published>(await VideoConnector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal(3, _x.StatusRequests);
        Assert.Equal(Mp4, Assert.Single(Assert.Single(_x.Posts).Media).Bytes);
    }

    [Fact]
    public async Task A_video_X_fails_to_process_is_rejected_with_X_reason_and_nothing_is_posted()
    {
        _x.VideoProcessingPolls = 1;
        _x.CheckAfterSecs = 0;
        _x.FailNextVideoProcessing("Unsupported video format");
        var upload = Upload("Broken clip") with { Media = [Image("broken.mp4", "video/mp4", Mp4, null)] };

        var failed = Assert.IsType<ConnectorResult.Failed>(await VideoConnector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.Rejected, false), (failed.Code, failed.Retryable));
        Assert.Contains("Unsupported video format", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_x.Posts);
        Assert.Equal(0, _x.CreateRequests);
    }

    [Fact]
    public async Task A_video_still_processing_when_the_bound_is_reached_fails_retryably_and_is_not_an_unknown_outcome()
    {
        // X asks to check again in a minute; the bound is 2 s, so the connector stops at once rather than wait past it.
        _x.VideoProcessingPolls = 5;
        _x.CheckAfterSecs = 60;
        var upload = Upload("Slow clip") with { Media = [Image("slow.mp4", "video/mp4", Mp4, null)] };

        var failed = Assert.IsType<ConnectorResult.Failed>(
            await VideoConnector(timeout: TimeSpan.FromSeconds(2)).PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.MediaNotReady, true, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Equal(0, _x.StatusRequests);
        Assert.Empty(_x.Posts);
    }

    [Fact]
    public async Task A_video_polled_until_the_bound_runs_out_fails_retryably()
    {
        _x.VideoProcessingPolls = int.MaxValue;
        _x.CheckAfterSecs = 0;
        var upload = Upload("Never ready") with { Media = [Image("never.mp4", "video/mp4", Mp4, null)] };

        var failed = Assert.IsType<ConnectorResult.Failed>(
            await VideoConnector(timeout: TimeSpan.FromMilliseconds(300)).PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.MediaNotReady, true, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.True(_x.StatusRequests >= 1);
        Assert.Empty(_x.Posts);
    }

    [Fact]
    public async Task A_video_post_whose_answer_was_lost_is_found_by_the_lookup_before_a_retry()
    {
        var upload = Upload("Video, answer lost") with { Media = [Image("lost.mp4", "video/mp4", Mp4, null)], FirstAttemptAt = DateTimeOffset.UtcNow };
        _x.LoseNextCreateAnswer();

        var failed = Assert.IsType<ConnectorResult.Failed>(await VideoConnector().PublishAsync(upload, CancellationToken.None));
        Assert.True(failed.OutcomeUnknown);

        var found = Assert.IsType<ConnectorResult.Published>(await VideoConnector().FindEarlierAsync(upload with { Attempt = 2 }, CancellationToken.None));
        Assert.Equal(Assert.Single(_x.Posts).Id, found.ExternalId);
    }

    [Fact]
    public async Task A_video_with_an_image_or_over_X_size_is_refused_before_anything_is_sent()
    {
        var withImage = Upload("Both") with { Media = [Image("a.mp4", "video/mp4", Mp4, null), Image("b.png", "image/png", Png, null)] };
        var tooLarge = Upload("Huge") with
        {
            Media = [new UploadMedia("huge.mp4", "video/mp4", _ => Task.FromResult<Stream>(new MemoryStream(Mp4)), null, 512L * 1024 * 1024 + 1)],
        };

        foreach (var upload in new[] { withImage, tooLarge })
        {
            var failed = Assert.IsType<ConnectorResult.Failed>(await VideoConnector().PublishAsync(upload, CancellationToken.None));
            Assert.Equal((ConnectorErrors.Rejected, false), (failed.Code, failed.Retryable));
        }

        Assert.Empty(_x.Requests);
    }

    private XConnector VideoConnector(TimeSpan? timeout = null)
        => new(new HttpClient { BaseAddress = _x.BaseUrl, Timeout = TimeSpan.FromSeconds(30) },
            Options.Create(new XOptions
            {
                BaseUrl = _x.BaseUrl,
                VideoChunkBytes = 7,
                MediaPollInterval = TimeSpan.FromMilliseconds(10),
                MediaProcessingTimeout = timeout ?? TimeSpan.FromSeconds(10),
            }),
            TimeProvider.System, NullLogger<XConnector>.Instance);

    private XConnector Connector(TimeProvider? clock = null)
        => new(new HttpClient { BaseAddress = _x.BaseUrl, Timeout = TimeSpan.FromSeconds(30) }, Options.Create(new XOptions { BaseUrl = _x.BaseUrl }),
            clock ?? TimeProvider.System, NullLogger<XConnector>.Instance);

    private Upload Upload(string text)
        => new($"tgt_{Guid.NewGuid():N}", FakeX.Username, text, $"key-{Guid.NewGuid():N}",
            new JsonObject { ["accessToken"] = _token, ["userId"] = FakeX.UserId, ["username"] = FakeX.Username }.ToJsonString());

    private static UploadMedia Image(string name, string type, byte[] bytes, string? alt)
        => new(name, type, _ => Task.FromResult<Stream>(new MemoryStream(bytes)), alt, bytes.Length);

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
