using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.Mastodon;
using ScheduledPosts.ServiceDefaults.Outbound;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>The Mastodon connector against a fake instance built from Mastodon's API documentation.</summary>
public sealed class MastodonConnectorTests : IAsyncLifetime
{
    private static readonly OutboundPolicy Strict = new(new OutboundOptions());

    private FakeMastodon _mastodon = null!;

    public async Task InitializeAsync() => _mastodon = await FakeMastodon.StartAsync();

    public async Task DisposeAsync() => await _mastodon.DisposeAsync();

    [Fact]
    public async Task A_status_is_posted_to_the_accounts_instance_with_its_token_and_idempotency_key()
    {
        var upload = Upload("Launch day!");

        var published = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        var request = Assert.Single(_mastodon.Requests);
        Assert.Equal(("POST", "/api/v1/statuses"), (request.Method, request.Path));
        Assert.Equal($"Bearer {FakeMastodon.Token}", request.Authorization);
        Assert.Equal(upload.IdempotencyKey, request.IdempotencyKey);
        Assert.Equal(["Launch day!"], request.Form["status"]);
        Assert.False(request.Form.ContainsKey("in_reply_to_id"));
        var status = Assert.Single(_mastodon.Statuses);
        Assert.Equal(status.Id, published.ExternalId);
        Assert.Equal($"{FakeMastodon.Origin}/@alice/{status.Id}", published.Url);
    }

    [Fact]
    public async Task The_first_comment_is_a_reply_to_the_status_under_its_own_key()
    {
        var upload = Upload("Launch day!") with { FirstComment = "Details at example.org" };

        var published = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal(2, _mastodon.Statuses.Count);
        var (post, comment) = (_mastodon.Statuses[0], _mastodon.Statuses[1]);
        Assert.Equal(post.Id, published.ExternalId);
        Assert.Null(post.InReplyToId);
        Assert.Equal(post.Id, comment.InReplyToId);
        Assert.Equal("<p>Details at example.org</p>", comment.Content);
        var keys = _mastodon.Requests.Select(r => r.IdempotencyKey).ToList();
        Assert.Equal([upload.IdempotencyKey, $"{upload.IdempotencyKey}:first-comment"], keys);
    }

    [Fact]
    public async Task A_retry_after_the_first_comment_failed_reposts_neither_the_status_nor_the_comment_twice()
    {
        var upload = Upload("Launch day!") with { FirstComment = "More below" };
        int calls = 0;
        _mastodon.Fault = _ => Task.FromResult(Interlocked.Increment(ref calls) == 2 ? FakeMastodon.Error(503, "Service Unavailable") : null);

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(upload, CancellationToken.None));
        var retried = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.True(failed.Retryable);
        Assert.Contains("not its first comment", failed.Message, StringComparison.Ordinal);
        Assert.Equal(2, _mastodon.Statuses.Count);
        Assert.Equal(_mastodon.Statuses[0].Id, retried.ExternalId);
        Assert.Equal(_mastodon.Statuses[0].Id, _mastodon.Statuses[1].InReplyToId);
    }

    [Fact]
    public async Task Media_is_uploaded_first_and_attached_by_id()
    {
        var upload = Upload("With a picture") with { Media = [Image("cat.png", "A cat")] };

        Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        var requests = _mastodon.Requests.ToList();
        Assert.Equal(["/api/v2/media", "/api/v1/statuses"], requests.Select(r => r.Path));
        var file = Assert.Single(requests[0].Files);
        Assert.Equal(("file", "cat.png", "image/png", 4L), file);
        Assert.Equal(["A cat"], requests[0].Form["description"]);
        var attached = Assert.Single(Assert.Single(_mastodon.Statuses).MediaAttachments);
        Assert.Equal([attached.Id], requests[1].Form["media_ids[]"]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_file_that_breaks_off_while_it_is_sent_fails_the_upload_at_once_for_a_retry_and_posts_nothing(bool sized)
    {
        var broken = new UploadMedia("cat.png", "image/png", _ => Task.FromResult<Stream>(new BreaksOffStream(first: 1_000)), Length: sized ? 5_000 : null);
        var upload = Upload("With a picture") with { Media = [broken] };

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.MediaUnavailable, true, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Contains("broke off", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_mastodon.MediaSha256);
        Assert.Empty(_mastodon.Statuses);
    }

    [Fact]
    public async Task Media_still_processing_is_waited_for_before_the_status_attaches_it()
    {
        _mastodon.MediaProcessingPolls = 2;
        var upload = Upload("With a video") with { Media = [Image("clip.png")] };

        Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        var paths = _mastodon.Requests.Select(r => r.Path).ToList();
        string mediaId = Assert.Single(Assert.Single(_mastodon.Statuses).MediaAttachments).Id;
        Assert.Equal(["/api/v2/media", $"/api/v1/media/{mediaId}", $"/api/v1/media/{mediaId}", $"/api/v1/media/{mediaId}", "/api/v1/statuses"], paths);
    }

    [Fact]
    public async Task Rate_limiting_is_retryable_after_the_Retry_After_the_instance_gave()
    {
        _mastodon.Fault = context =>
        {
            context.Response.Headers.RetryAfter = "42";
            return Task.FromResult<IResult?>(FakeMastodon.Error(429, "Too many requests"));
        };

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Hi"), CancellationToken.None));

        Assert.Equal((ConnectorErrors.RateLimited, true), (failed.Code, failed.Retryable));
        Assert.Equal(TimeSpan.FromSeconds(42), failed.RetryAfter);
        Assert.Contains("Too many requests", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_mastodon.Statuses);
    }

    [Fact]
    public async Task Rate_limiting_without_Retry_After_waits_until_X_RateLimit_Reset()
    {
        var clock = new FixedClock(new DateTimeOffset(2026, 5, 25, 13, 0, 0, TimeSpan.Zero));
        _mastodon.Fault = context =>
        {
            context.Response.Headers["X-RateLimit-Limit"] = "300";
            context.Response.Headers["X-RateLimit-Remaining"] = "0";
            context.Response.Headers["X-RateLimit-Reset"] = "2026-05-25T13:02:30.000000Z";
            return Task.FromResult<IResult?>(FakeMastodon.Error(429, "Too many requests"));
        };

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector(clock: clock).PublishAsync(Upload("Hi"), CancellationToken.None));

        Assert.Equal(ConnectorErrors.RateLimited, failed.Code);
        Assert.Equal(TimeSpan.FromSeconds(150), failed.RetryAfter);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    public async Task A_server_error_is_retryable(int status)
    {
        _mastodon.Fault = _ => Task.FromResult<IResult?>(Results.Content("<html>Bad gateway</html>", "text/html", Encoding.UTF8, status));

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Hi"), CancellationToken.None));

        Assert.Equal((ConnectorErrors.PlatformError, true), (failed.Code, failed.Retryable));
        Assert.Contains(status.ToString(CultureInfo.InvariantCulture), failed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_validation_error_is_not_retryable_and_keeps_the_instances_reason()
    {
        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("   "), CancellationToken.None));

        Assert.Equal((ConnectorErrors.Rejected, false), (failed.Code, failed.Retryable));
        Assert.Contains("Validation failed: Text can't be blank", failed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_token_is_not_retryable()
    {
        var upload = Upload("Hi") with { CredentialsJson = FakeMastodon.Credentials("revoked") };

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.InvalidCredentials, false), (failed.Code, failed.Retryable));
        Assert.Contains("The access token is invalid", failed.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("not json")]
    [InlineData("""{"instanceUrl": "https://mastodon.test"}""")]
    [InlineData("""{"instanceUrl": "mastodon.test", "accessToken": "t"}""")]
    [InlineData("""{"instanceUrl": "ftp://mastodon.test", "accessToken": "t"}""")]
    public async Task Unusable_credentials_fail_for_good_without_a_request(string credentials)
    {
        var upload = Upload("Hi") with { CredentialsJson = credentials };

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.InvalidCredentials, false), (failed.Code, failed.Retryable));
        Assert.Empty(_mastodon.Requests);
    }

    [Fact]
    public async Task A_timeout_is_retryable_and_the_retry_under_the_same_key_posts_once()
    {
        _mastodon.HangNext(1);
        var upload = Upload("Slow instance");

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(upload, CancellationToken.None));
        var retried = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.Timeout, true, true), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        // Mastodon takes keys, so the publisher keeps the timeout retryable rather than UNKNOWN_OUTCOME.
        Assert.Same(failed, Publishing.TargetPublisher.Settle(failed, Connector()));
        Assert.Equal(Assert.Single(_mastodon.Statuses).Id, retried.ExternalId);
    }

    [Fact]
    public void Its_capabilities_are_the_shared_tables()
    {
        var capabilities = Connector().Capabilities;

        Assert.Same(Contracts.Platforms.Platforms.Known["mastodon"], capabilities);
        Assert.Equal(500, capabilities.MaxCaptionLength);
        Assert.True(capabilities.SupportsIdempotencyKey);
        Assert.True(capabilities.SupportsFirstComment);
    }

    private MastodonConnector Connector(TimeProvider? clock = null)
    {
        var http = new HttpClient(_mastodon.CreateHandler()) { Timeout = TimeSpan.FromSeconds(30) };
        var options = new MastodonOptions { MediaPollInterval = TimeSpan.FromMilliseconds(10), MediaProcessingTimeout = TimeSpan.FromSeconds(10) };
        return new MastodonConnector(http, Options.Create(options), Strict, clock ?? TimeProvider.System, NullLogger<MastodonConnector>.Instance);
    }

    private static Upload Upload(string text) => new($"tgt_{Guid.NewGuid():N}", "alice", text, $"key-{Guid.NewGuid():N}", FakeMastodon.Credentials());

    private static UploadMedia Image(string name, string? description = null)
        => new(name, "image/png", _ => Task.FromResult<Stream>(new MemoryStream([0x89, 0x50, 0x4E, 0x47])), description);

    /// <summary>Serves <c>first</c> bytes, then breaks off once the upload is under way, as a media stream whose source went away.</summary>
    private sealed class BreaksOffStream(int first) : Stream
    {
        private bool _served;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!_served)
            {
                _served = true;
                int count = Math.Min(first, buffer.Length);
                buffer.Span[..count].Fill(0x89);
                return count;
            }

            // The rest would come over the network: the break shows only after the send has had to wait for it.
            await Task.Yield();
            throw new MediaUnavailableException("The media file broke off.");
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
