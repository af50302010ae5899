using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.Sandbox;
using ScheduledPosts.Sandbox;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>The sandbox connector against the real sandbox platform, served in memory.</summary>
public sealed class SandboxConnectorTests(WebApplicationFactory<StatusStore> sandbox) : IClassFixture<WebApplicationFactory<StatusStore>>
{
    private readonly SandboxConnector _connector = Connector(sandbox.CreateClient());

    [Fact]
    public async Task Publishing_returns_the_sandbox_status_and_the_sandbox_records_it()
    {
        var target = Target(handle: Unique("alice"), text: "Launch day!");

        var result = await _connector.PublishAsync(target, CancellationToken.None);

        var published = Assert.IsType<ConnectorResult.Published>(result);
        var recorded = Assert.Single(await RecordedFor(target.AccountHandle));
        Assert.Equal(recorded.Id, published.ExternalId);
        Assert.Equal($"http://localhost/@{target.AccountHandle}/{recorded.Id}", published.Url);
        Assert.Equal("Launch day!", recorded.Status);
        Assert.Equal(target.IdempotencyKey, recorded.IdempotencyKey);
    }

    [Fact]
    public async Task The_same_idempotency_key_twice_posts_once()
    {
        var target = Target(handle: Unique("bob"), text: "Only once");

        var first = Assert.IsType<ConnectorResult.Published>(await _connector.PublishAsync(target, CancellationToken.None));
        var retry = Assert.IsType<ConnectorResult.Published>(await _connector.PublishAsync(target, CancellationToken.None));

        Assert.Equal(first, retry);
        Assert.Equal(first.ExternalId, Assert.Single(await RecordedFor(target.AccountHandle)).Id);
    }

    [Fact]
    public async Task Racing_retries_with_the_same_key_still_post_once()
    {
        var target = Target(handle: Unique("erin"), text: "Raced");

        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => _connector.PublishAsync(target, CancellationToken.None)));

        var id = Assert.Single(results.Select(r => Assert.IsType<ConnectorResult.Published>(r).ExternalId).Distinct());
        Assert.Equal(id, Assert.Single(await RecordedFor(target.AccountHandle)).Id);
    }

    [Fact]
    public async Task Another_idempotency_key_posts_again()
    {
        var target = Target(handle: Unique("carol"), text: "Twice on purpose");

        var first = Assert.IsType<ConnectorResult.Published>(await _connector.PublishAsync(target, CancellationToken.None));
        target = target with { IdempotencyKey = Unique("key") };
        var second = Assert.IsType<ConnectorResult.Published>(await _connector.PublishAsync(target, CancellationToken.None));

        Assert.NotEqual(first.ExternalId, second.ExternalId);
        Assert.Equal(2, (await RecordedFor(target.AccountHandle)).Count);
    }

    [Fact]
    public async Task The_first_comment_is_recorded_as_a_reply_to_the_status()
    {
        var target = Target(handle: Unique("fiona"), text: "Launch day!") with { FirstComment = "Link in bio" };

        var published = Assert.IsType<ConnectorResult.Published>(await _connector.PublishAsync(target, CancellationToken.None));

        var recorded = await RecordedFor(target.AccountHandle);
        Assert.Equal(2, recorded.Count);
        var post = Assert.Single(recorded, s => s.Id == published.ExternalId);
        var comment = Assert.Single(recorded, s => s.InReplyToId == post.Id);
        Assert.Equal(("Launch day!", "Link in bio"), (post.Status, comment.Status));
        Assert.Null(post.InReplyToId);
    }

    [Fact]
    public async Task Images_are_uploaded_and_recorded_with_the_status()
    {
        var image = new UploadMedia("cat.png", "image/png", _ => Task.FromResult<Stream>(new MemoryStream(new byte[128])), "A cat");
        var target = Target(handle: Unique("gina"), text: "Look") with { Media = [image] };

        Assert.IsType<ConnectorResult.Published>(await _connector.PublishAsync(target, CancellationToken.None));

        var media = Assert.Single(Assert.Single(await RecordedFor(target.AccountHandle)).Media ?? []);
        Assert.Equal(("image", "cat.png", 128L, "A cat"), (media.Type, media.FileName, media.Length, media.Description));
    }

    [Fact]
    public async Task A_caption_over_the_character_limit_is_refused_for_good()
    {
        // 501 characters, of which many take two UTF-16 units: the limit counts characters.
        var target = Target(handle: Unique("hank"), text: string.Concat(Enumerable.Repeat("🐘", 250)) + new string('x', 251));

        var failed = Assert.IsType<ConnectorResult.Failed>(await _connector.PublishAsync(target, CancellationToken.None));

        Assert.Equal((ConnectorErrors.Rejected, false), (failed.Code, failed.Retryable));
        Assert.Contains("character limit of 500", failed.Message, StringComparison.Ordinal);
        Assert.IsType<ConnectorResult.Published>(await _connector.PublishAsync(target with { Text = target.Text[..^1] }, CancellationToken.None));
    }

    [Fact]
    public async Task Without_a_token_the_status_is_refused_for_good()
    {
        string text = Unique("no token");
        var target = Target(handle: "", text: text);

        var failed = Assert.IsType<ConnectorResult.Failed>(await _connector.PublishAsync(target, CancellationToken.None));

        Assert.Equal(ConnectorErrors.InvalidCredentials, failed.Code);
        Assert.False(failed.Retryable);
        Assert.Contains("The access token is invalid", failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(await Recorded(), s => s.Status == text);
    }

    [Fact]
    public async Task A_blank_text_is_refused_for_good_with_the_platforms_reason()
    {
        var target = Target(handle: Unique("dave"), text: "  ");

        var failed = Assert.IsType<ConnectorResult.Failed>(await _connector.PublishAsync(target, CancellationToken.None));

        Assert.Equal(ConnectorErrors.Rejected, failed.Code);
        Assert.False(failed.Retryable);
        Assert.Contains("Text can't be blank", failed.Message, StringComparison.Ordinal);
        Assert.Empty(await RecordedFor(target.AccountHandle));
    }

    private async Task<List<RecordedStatus>> Recorded()
        => await sandbox.CreateClient().GetFromJsonAsync<List<RecordedStatus>>("/sandbox/statuses") ?? [];

    [Fact]
    public async Task Unpublishing_deletes_the_sandbox_status_once_and_only_its_author_may()
    {
        var target = Target(handle: Unique("ivy"), text: "Soon gone");
        var published = Assert.IsType<ConnectorResult.Published>(await _connector.PublishAsync(target, CancellationToken.None));
        var removal = new Removal(target.TargetId, target.AccountHandle, "{}", published.ExternalId);

        var stranger = await _connector.UnpublishAsync(removal with { AccountHandle = Unique("mallory") }, CancellationToken.None);
        Assert.Equal((ConnectorErrors.InvalidCredentials, false), (stranger!.Code, stranger.Retryable));
        Assert.Null(Assert.Single(await RecordedFor(target.AccountHandle)).DeletedAt);

        Assert.Null(await _connector.UnpublishAsync(removal, CancellationToken.None));
        var deletedAt = Assert.Single(await RecordedFor(target.AccountHandle)).DeletedAt;
        Assert.NotNull(deletedAt);
        // Gone already: removed all the same, and the sandbox keeps the first deletion.
        Assert.Null(await _connector.UnpublishAsync(removal, CancellationToken.None));
        Assert.Equal(deletedAt, Assert.Single(await RecordedFor(target.AccountHandle)).DeletedAt);
    }

    private async Task<List<RecordedStatus>> RecordedFor(string account)
        => [.. (await Recorded()).Where(s => s.Account == account)];

    internal static Upload Target(string handle, string text) => new(Unique("tgt"), handle, text, Unique("key"), "{}");

    internal static SandboxConnector Connector(HttpClient http) => new(http, TimeProvider.System, NullLogger<SandboxConnector>.Instance);

    internal static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";
}

/// <summary>How the connector reads platform answers, scripted one by one.</summary>
public sealed class SandboxConnectorFailureTests
{
    [Fact]
    public async Task Rate_limiting_is_retryable_and_keeps_Retry_After()
    {
        var connector = Answering(_ => new HttpResponseMessage(HttpStatusCode.TooManyRequests)
        {
            Headers = { RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(30)) },
            Content = JsonContent.Create(new { error = "Too many requests" }),
        });

        var failed = Assert.IsType<ConnectorResult.Failed>(await connector.PublishAsync(Target(), CancellationToken.None));

        Assert.Equal(ConnectorErrors.RateLimited, failed.Code);
        Assert.True(failed.Retryable);
        Assert.Equal(TimeSpan.FromSeconds(30), failed.RetryAfter);
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    public async Task A_server_error_is_retryable(HttpStatusCode status)
    {
        var connector = Answering(_ => new HttpResponseMessage(status) { Content = new StringContent("<html>oops</html>") });

        var failed = Assert.IsType<ConnectorResult.Failed>(await connector.PublishAsync(Target(), CancellationToken.None));

        Assert.Equal(ConnectorErrors.PlatformError, failed.Code);
        Assert.True(failed.Retryable);
        // The status, never the body (docs/security.md#outbound-requests).
        Assert.Contains($"({(int)status} ", failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("oops", failed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_timeout_is_retryable_because_the_sandbox_dedupes_by_idempotency_key()
    {
        var connector = SandboxConnectorTests.Connector(new HttpClient(new Handler(async (_, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            throw new InvalidOperationException("unreachable");
        }))
        {
            BaseAddress = new Uri("http://sandbox.test"),
            Timeout = TimeSpan.FromMilliseconds(100),
        });

        var failed = Assert.IsType<ConnectorResult.Failed>(await connector.PublishAsync(Target(), CancellationToken.None));

        Assert.Equal(ConnectorErrors.Timeout, failed.Code);
        Assert.True(failed.Retryable);
        Assert.True(failed.OutcomeUnknown);
    }

    [Fact]
    public async Task An_unreachable_sandbox_is_retryable()
    {
        var connector = Answering(_ => throw new HttpRequestException("Connection refused"));

        var failed = Assert.IsType<ConnectorResult.Failed>(await connector.PublishAsync(Target(), CancellationToken.None));

        Assert.Equal(ConnectorErrors.NetworkError, failed.Code);
        Assert.True(failed.Retryable);
    }

    [Fact]
    public async Task Cancellation_by_the_caller_is_not_mistaken_for_a_timeout()
    {
        using var cancel = new CancellationTokenSource();
        var connector = Answering(_ =>
        {
            cancel.Cancel();
            cancel.Token.ThrowIfCancellationRequested();
            throw new InvalidOperationException("unreachable");
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connector.PublishAsync(Target(), cancel.Token));
    }

    [Fact]
    public async Task The_request_carries_the_handle_as_token_the_idempotency_key_and_the_text()
    {
        HttpRequestMessage? sent = null;
        string? body = null;
        var connector = SandboxConnectorTests.Connector(new HttpClient(new Handler(async (request, ct) =>
        {
            sent = request;
            body = await request.Content!.ReadAsStringAsync(ct);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(new { id = "1", url = "http://sandbox.test/@alice/1" }) };
        }))
        {
            BaseAddress = new Uri("http://sandbox.test"),
        });
        var target = Target();

        await connector.PublishAsync(target, CancellationToken.None);

        Assert.NotNull(sent);
        Assert.Equal(HttpMethod.Post, sent.Method);
        Assert.Equal("http://sandbox.test/api/v1/statuses", sent.RequestUri!.ToString());
        Assert.Equal($"Bearer {target.AccountHandle}", sent.Headers.Authorization!.ToString());
        Assert.Equal(target.IdempotencyKey, Assert.Single(sent.Headers.GetValues("Idempotency-Key")));
        Assert.Equal("application/x-www-form-urlencoded", sent.Content!.Headers.ContentType!.MediaType);
        Assert.Equal("status=Hello", body);
    }

    private static Upload Target() => SandboxConnectorTests.Target(handle: "alice", text: "Hello");

    private static SandboxConnector Answering(Func<HttpRequestMessage, HttpResponseMessage> answer)
        => SandboxConnectorTests.Connector(new HttpClient(new Handler((request, _) => Task.FromResult(answer(request)))) { BaseAddress = new Uri("http://sandbox.test") });

    private sealed class Handler(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> send) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            => send(request, cancellationToken);
    }
}
