using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.Mastodon;
using ScheduledPosts.ServiceDefaults.Outbound;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>Unpublish through the Mastodon connector, against the fake instance: DELETE /api/v1/statuses/:id and its answers.</summary>
public sealed class MastodonUnpublishTests : IAsyncLifetime
{
    private FakeMastodon _mastodon = null!;

    public async Task InitializeAsync() => _mastodon = await FakeMastodon.StartAsync();

    public async Task DisposeAsync() => await _mastodon.DisposeAsync();

    [Fact]
    public async Task A_published_status_is_deleted_with_the_accounts_token()
    {
        string id = await PublishAsync();

        Assert.Null(await Connector().UnpublishAsync(Removal(id), CancellationToken.None));

        var request = _mastodon.Requests.Last();
        Assert.Equal(("DELETE", $"/api/v1/statuses/{id}", $"Bearer {FakeMastodon.Token}"), (request.Method, request.Path, request.Authorization));
        Assert.Equal([id], _mastodon.Deleted.Keys);
    }

    [Fact]
    public async Task A_status_already_gone_counts_as_removed_and_is_deleted_once()
    {
        string id = await PublishAsync();

        Assert.Null(await Connector().UnpublishAsync(Removal(id), CancellationToken.None));
        Assert.Null(await Connector().UnpublishAsync(Removal(id), CancellationToken.None));
        Assert.Null(await Connector().UnpublishAsync(Removal("110999999999999999"), CancellationToken.None));

        Assert.Single(_mastodon.Deleted);
    }

    [Theory]
    [InlineData(503, ConnectorErrors.PlatformError, true)]
    [InlineData(429, ConnectorErrors.RateLimited, true)]
    [InlineData(401, ConnectorErrors.InvalidCredentials, false)]
    [InlineData(403, ConnectorErrors.InvalidCredentials, false)]
    [InlineData(422, ConnectorErrors.Rejected, false)]
    public async Task A_refused_deletion_says_whether_a_retry_may_help_and_deletes_nothing(int status, string code, bool retryable)
    {
        string id = await PublishAsync();
        _mastodon.Fault = context => Task.FromResult(context.Request.Method == "DELETE" ? FakeMastodon.Error(status, "No") : null);

        var failed = await Connector().UnpublishAsync(Removal(id), CancellationToken.None);

        Assert.NotNull(failed);
        Assert.Equal((code, retryable, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Empty(_mastodon.Deleted);
    }

    [Fact]
    public async Task A_deletion_without_an_answer_is_a_retryable_timeout_and_the_retry_finds_it_gone()
    {
        string id = await PublishAsync();
        _mastodon.HangNext(1);

        var failed = await Connector().UnpublishAsync(Removal(id), CancellationToken.None);

        Assert.NotNull(failed);
        Assert.Equal((ConnectorErrors.Timeout, true), (failed.Code, failed.Retryable));
        Assert.Null(await Connector().UnpublishAsync(Removal(id), CancellationToken.None));
        Assert.Single(_mastodon.Deleted);
    }

    [Fact]
    public async Task Mastodon_and_the_sandbox_say_they_unpublish()
    {
        Assert.True(Connector().Capabilities.Unpublishes);
        Assert.True(Contracts.Platforms.Platforms.Known["sandbox"].Unpublishes);
        Assert.True(Contracts.Platforms.Platforms.Known["bluesky"].Unpublishes);
    }

    private async Task<string> PublishAsync()
    {
        var upload = new Upload($"tgt_{Guid.NewGuid():N}", "alice", "To be removed", $"key-{Guid.NewGuid():N}", FakeMastodon.Credentials());
        var published = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));
        return published.ExternalId;
    }

    private static Removal Removal(string statusId) => new($"tgt_{Guid.NewGuid():N}", "alice", FakeMastodon.Credentials(), statusId);

    private MastodonConnector Connector()
    {
        var http = new HttpClient(_mastodon.CreateHandler()) { Timeout = TimeSpan.FromSeconds(30) };
        return new MastodonConnector(http, Options.Create(new MastodonOptions()), new OutboundPolicy(new OutboundOptions()), TimeProvider.System,
            NullLogger<MastodonConnector>.Instance);
    }
}
