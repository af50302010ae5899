using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.LinkedIn;
using ScheduledPosts.Testing.FakePlatforms;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>Unpublish through the LinkedIn connectors, against FakeLinkedIn: DELETE /rest/posts/{encoded URN} with the versioned headers.</summary>
public sealed class LinkedInUnpublishTests : IAsyncLifetime
{
    private static readonly string[] PersonScopes = ["openid", "profile", "w_member_social"];
    private static readonly string[] CompanyScopes = ["rw_organization_admin", "w_organization_social", "r_organization_social"];
    private static readonly string Company = FakeLinkedIn.Organizations[0].Urn;
    private static readonly HttpClient Http = new();

    private FakeLinkedIn _linkedIn = null!;

    public async Task InitializeAsync() => _linkedIn = await FakeLinkedIn.StartAsync();

    public async Task DisposeAsync() => await _linkedIn.DisposeAsync();

    [Theory]
    [InlineData(Platforms.LinkedInPerson)]
    [InlineData(Platforms.LinkedInCompany)]
    public async Task A_published_post_is_deleted_by_its_URN(string platform)
    {
        string credentials = Credentials(platform);
        string urn = await PublishAsync(platform, credentials);

        Assert.Null(await Connector(platform).UnpublishAsync(Removal(urn, credentials), CancellationToken.None));

        Assert.Equal([urn], _linkedIn.Deleted.Select(p => p.Urn));
        Assert.Empty(_linkedIn.Posts);
    }

    [Fact]
    public async Task A_post_already_gone_counts_as_removed_and_is_deleted_once()
    {
        string credentials = Credentials(Platforms.LinkedInPerson);
        string urn = await PublishAsync(Platforms.LinkedInPerson, credentials);

        Assert.Null(await Connector(Platforms.LinkedInPerson).UnpublishAsync(Removal(urn, credentials), CancellationToken.None));
        Assert.Null(await Connector(Platforms.LinkedInPerson).UnpublishAsync(Removal(urn, credentials), CancellationToken.None));
        Assert.Null(await Connector(Platforms.LinkedInPerson).UnpublishAsync(Removal("urn:li:share:999999999", credentials), CancellationToken.None));

        Assert.Single(_linkedIn.Deleted);
    }

    [Fact]
    public async Task A_429_waits_as_long_as_Retry_After_says_and_deletes_nothing()
    {
        string credentials = Credentials(Platforms.LinkedInPerson);
        string urn = await PublishAsync(Platforms.LinkedInPerson, credentials);
        _linkedIn.FailNextDeletes(1, 429, TimeSpan.FromSeconds(120));

        var failed = await Connector(Platforms.LinkedInPerson).UnpublishAsync(Removal(urn, credentials), CancellationToken.None);

        Assert.NotNull(failed);
        Assert.Equal((ConnectorErrors.RateLimited, true), (failed.Code, failed.Retryable));
        Assert.InRange(failed.RetryAfter!.Value, TimeSpan.FromSeconds(110), TimeSpan.FromSeconds(120));
        Assert.Empty(_linkedIn.Deleted);
    }

    [Theory]
    [InlineData(503, ConnectorErrors.PlatformError, true)]
    [InlineData(401, ConnectorErrors.InvalidCredentials, false)]
    [InlineData(403, ConnectorErrors.Rejected, false)]
    public async Task A_refused_deletion_says_whether_a_retry_may_help_and_deletes_nothing(int status, string code, bool retryable)
    {
        string credentials = Credentials(Platforms.LinkedInPerson);
        string urn = await PublishAsync(Platforms.LinkedInPerson, credentials);
        _linkedIn.FailNextDeletes(1, status);

        var failed = await Connector(Platforms.LinkedInPerson).UnpublishAsync(Removal(urn, credentials), CancellationToken.None);

        Assert.NotNull(failed);
        Assert.Equal((code, retryable, false), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Empty(_linkedIn.Deleted);
        Assert.Single(_linkedIn.Posts);
    }

    [Fact]
    public async Task A_token_without_the_write_permission_deletes_nothing()
    {
        string urn = await PublishAsync(Platforms.LinkedInCompany, Credentials(Platforms.LinkedInCompany));

        var failed = await Connector(Platforms.LinkedInCompany).UnpublishAsync(Removal(urn, _linkedIn.Credentials(Company, "r_organization_social")), CancellationToken.None);

        Assert.Equal((ConnectorErrors.Rejected, false), (failed?.Code, failed?.Retryable));
        Assert.Single(_linkedIn.Posts);
    }

    [Fact]
    public void Both_LinkedIn_platforms_say_they_unpublish()
    {
        Assert.True(Connector(Platforms.LinkedInPerson).Capabilities.Unpublishes);
        Assert.True(Connector(Platforms.LinkedInCompany).Capabilities.Unpublishes);
    }

    private string Credentials(string platform)
        => platform == Platforms.LinkedInCompany ? _linkedIn.Credentials(Company, CompanyScopes) : _linkedIn.Credentials(FakeLinkedIn.PersonUrn, PersonScopes);

    private async Task<string> PublishAsync(string platform, string credentials)
    {
        var upload = new Upload($"tgt_{Guid.NewGuid():N}", "handle", $"To be removed {Guid.NewGuid():N}", $"key-{Guid.NewGuid():N}", credentials);
        return Assert.IsType<ConnectorResult.Published>(await Connector(platform).PublishAsync(upload, CancellationToken.None)).ExternalId;
    }

    private static Removal Removal(string urn, string credentials) => new($"tgt_{Guid.NewGuid():N}", "handle", credentials, urn);

    private LinkedInConnector Connector(string platform)
        => new(platform, new LinkedInClient(Http, Options.Create(new LinkedInOptions { BaseUrl = _linkedIn.BaseUrl }), TimeProvider.System,
            NullLogger<LinkedInClient>.Instance));
}
