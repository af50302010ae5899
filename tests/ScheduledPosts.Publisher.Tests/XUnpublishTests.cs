using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.X;
using ScheduledPosts.Testing.FakePlatforms;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>Unpublish through the X connector, against FakeX: DELETE /2/tweets/:id and its answers.</summary>
public sealed class XUnpublishTests : IAsyncLifetime
{
    private FakeX _x = null!;
    private string _token = null!;

    public async Task InitializeAsync()
    {
        _x = await FakeX.StartAsync();
        _token = _x.GrantAccessToken();
    }

    public async Task DisposeAsync() => await _x.DisposeAsync();

    [Fact]
    public async Task A_published_post_is_deleted_with_the_accounts_token()
    {
        string id = await PublishAsync();

        Assert.Null(await Connector().UnpublishAsync(Removal(id), CancellationToken.None));

        var request = _x.Requests[^1];
        Assert.Equal(("DELETE", $"/2/tweets/{id}", $"Bearer {_token}"), (request.Method, request.Path, request.Authorization));
        Assert.Equal([id], _x.Deleted.Select(p => p.Id));
        Assert.Empty(_x.Posts);
    }

    [Fact]
    public async Task A_post_already_gone_counts_as_removed_and_is_deleted_once()
    {
        string id = await PublishAsync();

        Assert.Null(await Connector().UnpublishAsync(Removal(id), CancellationToken.None));
        Assert.Null(await Connector().UnpublishAsync(Removal(id), CancellationToken.None));
        Assert.Null(await Connector().UnpublishAsync(Removal("1999999999999999999"), CancellationToken.None));

        Assert.Single(_x.Deleted);
    }

    [Fact]
    public async Task A_429_is_rate_limited_until_the_reset_X_names_and_deletes_nothing()
    {
        string id = await PublishAsync();
        var now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        _x.FailNextDeletes(1, 429, now.AddSeconds(90));

        var failed = await Connector(new FixedClock(now)).UnpublishAsync(Removal(id), CancellationToken.None);

        Assert.NotNull(failed);
        Assert.Equal((ConnectorErrors.RateLimited, true, TimeSpan.FromSeconds(90)), (failed.Code, failed.Retryable, failed.RetryAfter));
        Assert.Empty(_x.Deleted);
    }

    [Theory]
    [InlineData(503, ConnectorErrors.PlatformError, true)]
    [InlineData(401, ConnectorErrors.InvalidCredentials, false)]
    [InlineData(403, ConnectorErrors.Rejected, false)]
    public async Task A_refused_deletion_says_whether_a_retry_may_help_and_deletes_nothing(int status, string code, bool retryable)
    {
        string id = await PublishAsync();
        _x.FailNextDeletes(1, status);

        var failed = await Connector().UnpublishAsync(Removal(id), CancellationToken.None);

        Assert.NotNull(failed);
        Assert.Equal((code, retryable, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Empty(_x.Deleted);
        Assert.Single(_x.Posts);
    }

    [Fact]
    public async Task An_expired_token_deletes_nothing_and_asks_for_fresh_credentials()
    {
        string id = await PublishAsync();
        _x.ExpireAccessTokens();

        var failed = await Connector().UnpublishAsync(Removal(id), CancellationToken.None);

        Assert.Equal(ConnectorErrors.InvalidCredentials, failed?.Code);
        Assert.Single(_x.Posts);
    }

    [Fact]
    public void X_says_it_unpublishes() => Assert.True(Connector().Capabilities.Unpublishes);

    private async Task<string> PublishAsync()
    {
        var upload = new Upload($"tgt_{Guid.NewGuid():N}", FakeX.Username, $"To be removed {Guid.NewGuid():N}", $"key-{Guid.NewGuid():N}", Credentials());
        var published = Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None));
        return published.ExternalId;
    }

    private string Credentials() => new JsonObject { ["accessToken"] = _token, ["userId"] = FakeX.UserId, ["username"] = FakeX.Username }.ToJsonString();

    private Removal Removal(string postId) => new($"tgt_{Guid.NewGuid():N}", FakeX.Username, Credentials(), postId);

    private XConnector Connector(TimeProvider? clock = null)
        => new(new HttpClient { BaseAddress = _x.BaseUrl, Timeout = TimeSpan.FromSeconds(30) }, Options.Create(new XOptions { BaseUrl = _x.BaseUrl }),
            clock ?? TimeProvider.System, NullLogger<XConnector>.Instance);

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
