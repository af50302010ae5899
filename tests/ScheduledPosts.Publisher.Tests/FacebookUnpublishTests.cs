using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.Facebook;
using ScheduledPosts.Testing.FakePlatforms;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>Unpublish through the Facebook Page connector, against FakeFacebook: DELETE /{post-id} on the Graph API.</summary>
public sealed class FacebookUnpublishTests : IAsyncLifetime
{
    private FakeFacebook _facebook = null!;

    public async Task InitializeAsync() => _facebook = await FakeFacebook.StartAsync();

    public async Task DisposeAsync() => await _facebook.DisposeAsync();

    [Fact]
    public async Task A_published_post_is_deleted_with_the_Pages_token()
    {
        string credentials = _facebook.Credentials();
        string id = await PublishAsync(credentials);

        Assert.Null(await Connector().UnpublishAsync(Removal(id, credentials), CancellationToken.None));

        Assert.Equal([id], _facebook.Deleted);
        Assert.Empty(_facebook.Posts);
        Assert.Equal($"DELETE /v26.0/{id}", _facebook.Requests[^1]);
    }

    [Fact]
    public async Task A_post_already_gone_counts_as_removed_and_is_deleted_once()
    {
        string credentials = _facebook.Credentials();
        string id = await PublishAsync(credentials);

        Assert.Null(await Connector().UnpublishAsync(Removal(id, credentials), CancellationToken.None));
        Assert.Null(await Connector().UnpublishAsync(Removal(id, credentials), CancellationToken.None));
        Assert.Null(await Connector().UnpublishAsync(Removal($"{FakeFacebook.PageId}_999999", credentials), CancellationToken.None));

        Assert.Single(_facebook.Deleted);
    }

    [Fact]
    public async Task A_rate_limited_deletion_waits_as_long_as_Graph_says_and_deletes_nothing()
    {
        string credentials = _facebook.Credentials();
        string id = await PublishAsync(credentials);
        _facebook.FailNextDeletes(1, 80001);

        var failed = await Connector().UnpublishAsync(Removal(id, credentials), CancellationToken.None);

        Assert.NotNull(failed);
        Assert.Equal((ConnectorErrors.RateLimited, true, TimeSpan.FromMinutes(7)), (failed.Code, failed.Retryable, failed.RetryAfter));
        Assert.Empty(_facebook.Deleted);
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError, 2, ConnectorErrors.PlatformError, true)]
    [InlineData(HttpStatusCode.BadRequest, 190, ConnectorErrors.InvalidCredentials, false)]
    [InlineData(HttpStatusCode.Forbidden, 200, ConnectorErrors.InvalidCredentials, false)]
    public async Task A_refused_deletion_says_whether_a_retry_may_help_and_deletes_nothing(HttpStatusCode status, int code, string expected, bool retryable)
    {
        string credentials = _facebook.Credentials();
        string id = await PublishAsync(credentials);
        _facebook.FailNextDeletes(1, code, status);

        var failed = await Connector().UnpublishAsync(Removal(id, credentials), CancellationToken.None);

        Assert.NotNull(failed);
        Assert.Equal((expected, retryable, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Empty(_facebook.Deleted);
        Assert.Single(_facebook.Posts);
    }

    [Fact]
    public async Task Another_Pages_token_deletes_nothing()
    {
        string id = await PublishAsync(_facebook.Credentials());

        var failed = await Connector().UnpublishAsync(Removal(id, _facebook.Credentials(FakeFacebook.OtherPageId)), CancellationToken.None);

        Assert.Equal((ConnectorErrors.InvalidCredentials, false), (failed?.Code, failed?.Retryable));
        Assert.Single(_facebook.Posts);
    }

    [Fact]
    public void Facebook_says_it_unpublishes() => Assert.True(Connector().Capabilities.Unpublishes);

    private async Task<string> PublishAsync(string credentials)
    {
        var upload = new Upload($"tgt_{Guid.NewGuid():N}", FakeFacebook.PageName, "To be removed", $"key-{Guid.NewGuid():N}", credentials);
        return Assert.IsType<ConnectorResult.Published>(await Connector().PublishAsync(upload, CancellationToken.None)).ExternalId;
    }

    private static Removal Removal(string id, string credentials) => new($"tgt_{Guid.NewGuid():N}", FakeFacebook.PageName, credentials, id);

    private FacebookConnector Connector()
        => new(new HttpClient { Timeout = TimeSpan.FromSeconds(30) }, Options.Create(new FacebookOptions { BaseUrl = _facebook.BaseUrl }),
            TimeProvider.System, NullLogger<FacebookConnector>.Instance);
}
