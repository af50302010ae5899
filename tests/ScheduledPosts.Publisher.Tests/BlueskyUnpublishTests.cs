using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.Bluesky;
using ScheduledPosts.ServiceDefaults.Outbound;
using ScheduledPosts.Testing.FakePlatforms;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>Unpublish through the Bluesky connector, against the fake PDS: com.atproto.repo.deleteRecord on the post's record key.</summary>
public sealed class BlueskyUnpublishTests : IAsyncLifetime
{
    private readonly BlueskySessions _sessions = new();
    private FakeBluesky _pds = null!;

    public async Task InitializeAsync() => _pds = await FakeBluesky.StartAsync();

    public async Task DisposeAsync() => await _pds.DisposeAsync();

    [Fact]
    public async Task A_published_post_is_deleted_by_its_record_key_in_the_accounts_repository()
    {
        string uri = await PublishAsync();

        Assert.Null(await Connector().UnpublishAsync(Removal(uri), CancellationToken.None));

        var deleted = Assert.Single(_pds.Deleted);
        Assert.Equal(uri, deleted.Uri);
        Assert.Equal(uri, $"at://{FakeBluesky.Did}/app.bsky.feed.post/{deleted.Rkey}");
        Assert.StartsWith("Bearer ", _pds.Requests.Last(r => r.Nsid == "com.atproto.repo.deleteRecord").Authorization);
    }

    [Fact]
    public async Task A_post_already_gone_counts_as_removed_and_is_deleted_once()
    {
        string uri = await PublishAsync();

        Assert.Null(await Connector().UnpublishAsync(Removal(uri), CancellationToken.None));
        Assert.Null(await Connector().UnpublishAsync(Removal(uri), CancellationToken.None));

        Assert.Single(_pds.Deleted);
    }

    [Theory]
    [InlineData(503, ConnectorErrors.PlatformError, true)]
    [InlineData(429, ConnectorErrors.RateLimited, true)]
    [InlineData(403, ConnectorErrors.InvalidCredentials, false)]
    public async Task A_refused_deletion_says_whether_a_retry_may_help_and_deletes_nothing(int status, string code, bool retryable)
    {
        string uri = await PublishAsync();
        _pds.Fault = (context, nsid) =>
        {
            if (nsid != "com.atproto.repo.deleteRecord")
            {
                return Task.FromResult<IResult?>(null);
            }

            context.Response.Headers.RetryAfter = "42";
            return Task.FromResult<IResult?>(FakeBluesky.Error(status, "Scripted", "No"));
        };

        var failed = await Connector().UnpublishAsync(Removal(uri), CancellationToken.None);

        Assert.NotNull(failed);
        Assert.Equal((code, retryable, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Equal(status is 429 or 503 ? TimeSpan.FromSeconds(42) : null, failed.RetryAfter);
        Assert.Empty(_pds.Deleted);
    }

    [Fact]
    public async Task An_expired_session_is_renewed_and_the_post_deleted()
    {
        string uri = await PublishAsync();
        _pds.ExpireAccessTokens();

        Assert.Null(await Connector().UnpublishAsync(Removal(uri), CancellationToken.None));

        Assert.Single(_pds.Deleted);
    }

    [Fact]
    public async Task A_deletion_without_an_answer_is_a_retryable_timeout_and_the_retry_finds_it_gone()
    {
        string uri = await PublishAsync();
        int hung = 0;
        _pds.Fault = async (context, nsid) =>
        {
            if (nsid == "com.atproto.repo.deleteRecord" && Interlocked.Increment(ref hung) == 1)
            {
                await _pds.HangAsync(context);
            }

            return null;
        };

        var failed = await Connector().UnpublishAsync(Removal(uri), CancellationToken.None);

        Assert.Equal((ConnectorErrors.Timeout, true), (failed?.Code, failed?.Retryable));
        Assert.Null(await Connector().UnpublishAsync(Removal(uri), CancellationToken.None));
        Assert.Single(_pds.Deleted);
    }

    [Fact]
    public async Task An_id_that_is_not_a_posts_AT_URI_is_refused_without_a_request()
    {
        var failed = await Connector().UnpublishAsync(Removal("https://bsky.app/profile/alice.test/post/3k"), CancellationToken.None);

        Assert.Equal((ConnectorErrors.Rejected, false), (failed?.Code, failed?.Retryable));
        Assert.Empty(_pds.Requests);
    }

    [Fact]
    public void Bluesky_says_it_unpublishes() => Assert.True(Connector().Capabilities.Unpublishes);

    private async Task<string> PublishAsync()
    {
        var upload = new Upload($"tgt_{Guid.NewGuid():N}", FakeBluesky.Handle, "To be removed", $"key-{Guid.NewGuid():N}", FakeBluesky.Credentials());
        return Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None)).ExternalId;
    }

    private static Removal Removal(string uri) => new($"tgt_{Guid.NewGuid():N}", FakeBluesky.Handle, FakeBluesky.Credentials(), uri);

    private BlueskyConnector Connector()
    {
        var http = new HttpClient(_pds.CreateHandler()) { Timeout = TimeSpan.FromSeconds(30) };
        return new BlueskyConnector(http, _sessions, new OutboundPolicy(new OutboundOptions()), TimeProvider.System, NullLogger<BlueskyConnector>.Instance);
    }
}
