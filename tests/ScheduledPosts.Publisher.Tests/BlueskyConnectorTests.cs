using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.Bluesky;
using ScheduledPosts.ServiceDefaults.Outbound;
using ScheduledPosts.Testing.FakePlatforms;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>The Bluesky connector against a fake PDS built from the AT Protocol's lexicons.</summary>
public sealed partial class BlueskyConnectorTests : IAsyncLifetime
{
    private static readonly OutboundPolicy Strict = new(new OutboundOptions());

    private readonly BlueskySessions _sessions = new();
    private FakeBluesky _pds = null!;

    public async Task InitializeAsync() => _pds = await FakeBluesky.StartAsync();

    public async Task DisposeAsync() => await _pds.DisposeAsync();

    [Fact]
    public async Task A_post_with_a_link_a_mention_and_two_images_is_created_once_with_UTF8_facets_and_alt_texts()
    {
        // Accents, an emoji and a dash before the link: its byte offset is well past its character offset.
        const string text = "Ça démarre 🚀 — détails: https://example.org/launch?x=1. Merci @bob.test et @nobody.test !";
        var upload = Upload(text) with { Media = [Image("one.png", "A rocket on its pad"), Image("two.png", "Lift-off", size: 3)] };

        var published = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        var record = Assert.Single(_pds.Records);
        Assert.Equal(record.Uri, published.ExternalId);
        Assert.Equal($"https://bsky.app/profile/{FakeBluesky.Did}/post/{record.Rkey}", published.Url);
        Assert.Equal(text, record.Value["text"]!.GetValue<string>());

        // The fake refuses a facet whose bytes do not hold its link or mention; these are also the expected numbers.
        var facets = record.Value["facets"]!.AsArray();
        Assert.Equal(2, facets.Count);
        int linkAt = text.IndexOf("https://", StringComparison.Ordinal);
        int linkStart = Encoding.UTF8.GetByteCount(text[..linkAt]);
        Assert.NotEqual(linkAt, linkStart);
        Assert.Equal((linkStart, linkStart + "https://example.org/launch?x=1".Length), Range(facets[0]!));
        Assert.Equal(("app.bsky.richtext.facet#link", "https://example.org/launch?x=1"),
            (facets[0]!["features"]![0]!["$type"]!.GetValue<string>(), facets[0]!["features"]![0]!["uri"]!.GetValue<string>()));
        int mentionStart = Encoding.UTF8.GetByteCount(text[..text.IndexOf("@bob", StringComparison.Ordinal)]);
        Assert.Equal((mentionStart, mentionStart + "@bob.test".Length), Range(facets[1]!));
        Assert.Equal(("app.bsky.richtext.facet#mention", FakeBluesky.OtherDid),
            (facets[1]!["features"]![0]!["$type"]!.GetValue<string>(), facets[1]!["features"]![0]!["did"]!.GetValue<string>()));

        var embed = record.Value["embed"]!;
        Assert.Equal("app.bsky.embed.images", embed["$type"]!.GetValue<string>());
        var images = embed["images"]!.AsArray();
        Assert.Equal(["A rocket on its pad", "Lift-off"], images.Select(i => i!["alt"]!.GetValue<string>()));
        Assert.Equal(2, _pds.Blobs.Count);
        Assert.All(images, i => Assert.True(_pds.Blobs.ContainsKey(i!["image"]!["ref"]!["$link"]!.GetValue<string>())));

        Assert.Equal(1, _pds.SessionsCreated);
        Assert.All(_pds.Requests.Where(r => r.Nsid != "com.atproto.server.createSession"), r => Assert.Equal("Bearer access-1", r.Authorization));
        Assert.Equal(1, _pds.Requests.Count(r => r.Nsid == "com.atproto.repo.createRecord"));
    }

    [Fact]
    public async Task The_session_is_kept_and_an_expired_access_token_is_refreshed_before_the_post_goes_out()
    {
        Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(Upload("First"), CancellationToken.None));
        _pds.ExpireAccessTokens();

        var upload = Upload("Second") with { Media = [Image("one.png", "A picture")] };
        var published = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal((1, 1), (_pds.SessionsCreated, _pds.SessionsRefreshed));
        Assert.Equal(2, _pds.Records.Count);
        Assert.Equal(_pds.Records[1].Uri, published.ExternalId);
        Assert.Single(_pds.Blobs);
    }

    [Fact]
    public async Task A_token_that_expires_during_an_image_upload_is_refreshed_and_the_image_sent_again_from_its_start()
    {
        int opened = 0;
        var image = new UploadMedia("one.png", "image/png", _ =>
        {
            Interlocked.Increment(ref opened);
            return Task.FromResult<Stream>(new MemoryStream([0x89, 0x50, 0x4E, 0x47]));
        }, "A picture", 4);
        // The kept session of an earlier post; its access token expires between the lookup and the image upload.
        Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(Upload("Earlier"), CancellationToken.None));
        _pds.Fault = (_, nsid) =>
        {
            if (nsid == "com.atproto.repo.uploadBlob" && _pds.Requests.Count(r => r.Nsid == nsid) == 1)
            {
                _pds.ExpireAccessTokens();
                return Task.FromResult<IResult?>(FakeBluesky.Error(400, "ExpiredToken", "Token has expired"));
            }

            return Task.FromResult<IResult?>(null);
        };

        Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(Upload("Picture") with { Media = [image] }, CancellationToken.None));

        Assert.Equal((2, 1, 1), (opened, _pds.SessionsRefreshed, _pds.SessionsCreated));
        var blob = Assert.Single(_pds.Blobs.Values);
        Assert.Equal(4, blob.Size);
        Assert.Equal(2, _pds.Records.Count);
    }

    [Fact]
    public async Task A_mention_that_cannot_be_resolved_for_now_fails_the_attempt_retryably_before_anything_is_posted()
    {
        _pds.Fault = (_, nsid) => Task.FromResult<IResult?>(nsid == "com.atproto.identity.resolveHandle"
            ? FakeBluesky.Error(502, "UpstreamFailure", "Upstream Failure")
            : null);

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Hi @bob.test"), CancellationToken.None));

        Assert.Equal((ConnectorErrors.PlatformError, true, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Empty(_pds.Records);
    }

    [Fact]
    public async Task A_refused_refresh_token_signs_in_again_once()
    {
        Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(Upload("First"), CancellationToken.None));
        _pds.ExpireAccessTokens();
        _pds.RevokeRefreshTokens();

        Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(Upload("Second"), CancellationToken.None));

        Assert.Equal((2, 1), (_pds.SessionsCreated, _pds.SessionsRefreshed));
        Assert.Equal(2, _pds.Records.Count);
    }

    [Fact]
    public async Task A_wrong_app_password_fails_for_good_without_echoing_it()
    {
        const string wrong = "wxyz-wxyz-wxyz-wxyz";
        var upload = Upload("Hi") with { CredentialsJson = FakeBluesky.Credentials(wrong) };

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.InvalidCredentials, false), (failed.Code, failed.Retryable));
        Assert.Contains("Invalid identifier or password", failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, failed.Message, StringComparison.Ordinal);
        Assert.Empty(_pds.Records);
        Assert.Equal(1, _pds.SessionsCreated);
    }

    [Fact]
    public async Task A_session_refused_right_after_signing_in_fails_for_good()
    {
        _pds.Fault = (_, nsid) => Task.FromResult<IResult?>(nsid == "com.atproto.repo.getRecord"
            ? FakeBluesky.Error(401, "AuthenticationRequired", "Account has been suspended")
            : null);

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Hi"), CancellationToken.None));

        Assert.Equal((ConnectorErrors.InvalidCredentials, false), (failed.Code, failed.Retryable));
        Assert.Equal(1, _pds.SessionsCreated);
        Assert.Equal(0, _pds.SessionsRefreshed);
    }

    [Fact]
    public async Task Rate_limiting_is_retryable_after_the_RateLimit_Reset_time()
    {
        var clock = new FixedClock(new DateTimeOffset(2026, 5, 25, 13, 0, 0, TimeSpan.Zero));
        _pds.Fault = (context, nsid) =>
        {
            if (nsid != "com.atproto.repo.createRecord")
            {
                return Task.FromResult<IResult?>(null);
            }

            context.Response.Headers["RateLimit-Limit"] = "5000";
            context.Response.Headers["RateLimit-Remaining"] = "0";
            context.Response.Headers["RateLimit-Reset"] = (clock.GetUtcNow().ToUnixTimeSeconds() + 150).ToString(CultureInfo.InvariantCulture);
            context.Response.Headers["RateLimit-Policy"] = "5000;w=3600";
            return Task.FromResult<IResult?>(FakeBluesky.Error(429, "RateLimitExceeded", "Rate Limit Exceeded"));
        };

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector(clock: clock).PublishAsync(Upload("Hi"), CancellationToken.None));

        Assert.Equal((ConnectorErrors.RateLimited, true, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Equal(TimeSpan.FromSeconds(150), failed.RetryAfter);
        Assert.Contains("RateLimitExceeded: Rate Limit Exceeded", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_pds.Records);
    }

    [Fact]
    public async Task A_content_error_is_not_retryable_and_shows_the_sanitised_message_only()
    {
        _pds.Fault = (_, nsid) => Task.FromResult<IResult?>(nsid == "com.atproto.repo.createRecord"
            ? Results.Json(new { error = "InvalidRequest", message = "Invalid app.bsky.feed.post record:\u0007 Record/text\nmust not be longer than 300 graphemes", debug = "secret-internal" }, statusCode: 400)
            : null);

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Hi"), CancellationToken.None));

        Assert.Equal((ConnectorErrors.Rejected, false), (failed.Code, failed.Retryable));
        Assert.Contains("400 Bad Request: InvalidRequest: Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes", failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-internal", failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\u0007', failed.Message);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    public async Task A_server_error_is_retryable_and_its_body_not_shown(int status)
    {
        _pds.Fault = (_, nsid) => Task.FromResult<IResult?>(nsid == "com.atproto.repo.createRecord"
            ? Results.Content("<html>upstream at 10.0.0.7 failed</html>", "text/html", Encoding.UTF8, status)
            : null);

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Hi"), CancellationToken.None));

        Assert.Equal((ConnectorErrors.PlatformError, true), (failed.Code, failed.Retryable));
        Assert.Contains(status.ToString(CultureInfo.InvariantCulture), failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("10.0.0.7", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_pds.Records);
    }

    [Fact]
    public async Task A_record_whose_connection_broke_before_the_answer_is_found_under_its_key_and_not_posted_again()
    {
        _pds.DropNextCreates(1);
        var upload = Upload("Lost answer");

        var published = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));
        var retried = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        var record = Assert.Single(_pds.Records);
        Assert.Equal(record.Uri, published.ExternalId);
        Assert.Equal(published, retried);
        // The create's lost answer was settled by a lookup; the retry looked the post up first and wrote nothing.
        Assert.Equal(["createSession", "getRecord", "createRecord", "getRecord", "getRecord"], _pds.Requests.Select(r => r.Nsid.Split('.')[^1]));
    }

    [Fact]
    public async Task A_record_whose_answer_timed_out_is_found_under_its_key()
    {
        _pds.HangNextCreates(1);
        var upload = Upload("Slow PDS");

        var published = Assert.IsType<ConnectorResult.Published>(
            await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal(Assert.Single(_pds.Records).Uri, published.ExternalId);
        Assert.Equal(["createSession", "getRecord", "createRecord", "getRecord"], _pds.Requests.Select(r => r.Nsid.Split('.')[^1]));
    }

    [Fact]
    public async Task A_timeout_the_lookup_cannot_settle_stays_retryable_and_the_retry_posts_once()
    {
        // The create and the lookup after it both go unanswered.
        int lookups = 0;
        _pds.HangNextCreates(1);
        _pds.Fault = async (context, nsid) =>
        {
            if (nsid == "com.atproto.repo.getRecord" && Interlocked.Increment(ref lookups) == 2)
            {
                await _pds.HangAsync(context);
            }

            return null;
        };
        var upload = Upload("Slow PDS");

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(upload, CancellationToken.None));
        var retried = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.Timeout, true, true), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        // Bluesky writes under a key derived from the target's, so the publisher keeps the timeout retryable.
        Assert.Same(failed, Publishing.TargetPublisher.Settle(failed, Connector()));
        Assert.Equal(Assert.Single(_pds.Records).Uri, retried.ExternalId);
    }

    [Fact]
    public async Task The_first_comment_is_a_reply_record_to_the_post()
    {
        var upload = Upload("Launch day!") with { FirstComment = "Details at https://example.org" };

        var published = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal(2, _pds.Records.Count);
        var (post, comment) = (_pds.Records[0], _pds.Records[1]);
        Assert.Equal(post.Uri, published.ExternalId);
        Assert.Null(post.Value["reply"]);
        foreach (string part in new[] { "root", "parent" })
        {
            Assert.Equal((post.Uri, post.Cid), (comment.Value["reply"]![part]!["uri"]!.GetValue<string>(), comment.Value["reply"]![part]!["cid"]!.GetValue<string>()));
        }

        Assert.Equal("Details at https://example.org", comment.Value["text"]!.GetValue<string>());
        Assert.NotEqual(post.Rkey, comment.Rkey);
    }

    [Fact]
    public async Task A_retry_after_the_first_comment_failed_posts_neither_twice()
    {
        var upload = Upload("Launch day!") with { FirstComment = "More below" };
        int creates = 0;
        _pds.Fault = (_, nsid) => Task.FromResult(nsid == "com.atproto.repo.createRecord" && Interlocked.Increment(ref creates) == 2
            ? FakeBluesky.Error(503, "NotEnoughResources", "Try again later")
            : null);

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(upload, CancellationToken.None));
        var retried = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.True(failed.Retryable);
        Assert.Contains("not its first comment", failed.Message, StringComparison.Ordinal);
        Assert.Equal(2, _pds.Records.Count);
        Assert.Equal(_pds.Records[0].Uri, retried.ExternalId);
        Assert.Equal(_pds.Records[0].Uri, _pds.Records[1].Value["reply"]!["parent"]!["uri"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_image_over_the_limit_is_refused_before_anything_is_sent()
    {
        var upload = Upload("Big") with { Media = [Image("big.png", "Big", size: 2_000_001)] };

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(upload, CancellationToken.None));

        Assert.Equal((ConnectorErrors.Rejected, false), (failed.Code, failed.Retryable));
        Assert.Empty(_pds.Blobs);
        Assert.Empty(_pds.Records);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("not json")]
    [InlineData("""{"identifier": "alice.test"}""")]
    [InlineData("""{"appPassword": "abcd-efgh-ijkl-mnop"}""")]
    [InlineData("""{"identifier": "alice.test", "appPassword": "abcd-efgh-ijkl-mnop", "service": "pds.test"}""")]
    public async Task Unusable_credentials_fail_for_good_without_a_request(string credentials)
    {
        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Hi") with { CredentialsJson = credentials }, CancellationToken.None));

        Assert.Equal((ConnectorErrors.InvalidCredentials, false), (failed.Code, failed.Retryable));
        Assert.Empty(_pds.Requests);
    }

    [Theory]
    [InlineData("https://127.0.0.1")]
    [InlineData("https://169.254.169.254")]
    [InlineData("http://pds.test")]
    public async Task A_service_the_outbound_policy_refuses_is_not_contacted(string service)
    {
        string credentials = $$"""{"identifier": "alice.test", "appPassword": "{{FakeBluesky.AppPassword}}", "service": "{{service}}"}""";

        var failed = Assert.IsType<ConnectorResult.Failed>(await Connector().PublishAsync(Upload("Hi") with { CredentialsJson = credentials }, CancellationToken.None));

        Assert.Equal((ConnectorErrors.DestinationRefused, false), (failed.Code, failed.Retryable));
        Assert.Empty(_pds.Requests);
    }

    [Fact]
    public void A_record_key_is_a_valid_TID_the_same_for_every_attempt_and_its_own_for_each_key()
    {
        string key = $"key-{Guid.NewGuid():N}";

        string rkey = BlueskyRecordKey.From(key);

        Assert.Matches(Tid(), rkey);
        Assert.Equal(rkey, BlueskyRecordKey.From(key));
        Assert.NotEqual(rkey, BlueskyRecordKey.From($"{key}:first-comment"));
        var keys = Enumerable.Range(0, 10_000).Select(i => BlueskyRecordKey.From($"key-{i}")).ToList();
        Assert.All(keys, k => Assert.Matches(Tid(), k));
        Assert.Equal(keys.Count, keys.Distinct(StringComparer.Ordinal).Count());
    }

    [Theory]
    [InlineData("See https://example.org/a.", "https://example.org/a")]
    [InlineData("(https://example.org/wiki/Foo_(bar))", "https://example.org/wiki/Foo_(bar)")]
    [InlineData("(see https://example.org/x)", "https://example.org/x")]
    [InlineData("mail me: someone@example.org", null)]
    public void Links_end_where_prose_does(string text, string? link)
    {
        var spans = BlueskyRichText.Find(text);

        Assert.Equal(link, spans.SingleOrDefault(s => s.IsLink)?.Value);
        Assert.DoesNotContain(spans, s => !s.IsLink);
    }

    [Fact]
    public void Its_capabilities_are_the_shared_tables()
    {
        var capabilities = Connector().Capabilities;

        Assert.Same(Contracts.Platforms.Platforms.Known["bluesky"], capabilities);
        Assert.Equal((300, Contracts.Platforms.CaptionUnit.Graphemes, 3000), (capabilities.MaxCaptionLength, capabilities.CaptionUnit, capabilities.MaxCaptionBytes));
        Assert.Equal((4, 2_000_000L), (capabilities.MaxMedia, capabilities.MaxMediaBytes));
        Assert.True(capabilities.SupportsIdempotencyKey);
        Assert.True(capabilities.SupportsFirstComment);
    }

    [GeneratedRegex("^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")]
    private static partial Regex Tid();

    private static (int, int) Range(JsonNode facet) => (facet["index"]!["byteStart"]!.GetValue<int>(), facet["index"]!["byteEnd"]!.GetValue<int>());

    private BlueskyConnector Connector(TimeProvider? clock = null)
    {
        var http = new HttpClient(_pds.CreateHandler()) { Timeout = TimeSpan.FromSeconds(30) };
        return new BlueskyConnector(http, _sessions, Strict, clock ?? TimeProvider.System, NullLogger<BlueskyConnector>.Instance);
    }

    private static Upload Upload(string text) => new($"tgt_{Guid.NewGuid():N}", FakeBluesky.Handle, text, $"key-{Guid.NewGuid():N}", FakeBluesky.Credentials());

    private static UploadMedia Image(string name, string? description = null, int size = 4)
    {
        var bytes = new byte[size];
        bytes.AsSpan(0, Math.Min(4, size)).Fill(0x89);
        return new UploadMedia(name, "image/png", _ => Task.FromResult<Stream>(new MemoryStream(bytes)), description, size);
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
