using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Publisher.Connectors.Mastodon;

namespace ScheduledPosts.Publisher.Connectors.Sandbox;

/// <summary>
/// Publishes to the project's sandbox platform (services/sandbox), which speaks the Mastodon subset
/// <see cref="MastodonClient"/> uses. The sandbox has no OAuth: the account handle is its access token, so the
/// handle goes in <c>Authorization: Bearer</c> and the sandbox records the status under that account. Like
/// Mastodon, it honours <c>Idempotency-Key</c>.
/// </summary>
public sealed class SandboxConnector(HttpClient http, TimeProvider clock, ILogger<SandboxConnector> logger) : IUnpublishingConnector
{
    public const string PlatformName = Platforms.Sandbox;

    public PlatformCapabilities Capabilities => Platforms.Known[Platforms.Sandbox];

    public Task<ConnectorResult> PublishAsync(Upload upload, CancellationToken cancellationToken)
        => new MastodonClient(http, clock, logger).PublishAsync(Account(upload.AccountHandle), upload, MediaPolling.Default, cancellationToken);

    /// <summary>The sandbox deletes a status as Mastodon does (<c>DELETE /api/v1/statuses/:id</c>).</summary>
    public Task<ConnectorResult.Failed?> UnpublishAsync(Removal removal, CancellationToken cancellationToken)
        => new MastodonClient(http, clock, logger).DeleteStatusAsync(Account(removal.AccountHandle), removal.ExternalPostId, cancellationToken);

    private MastodonAccount Account(string handle)
    {
        var baseUrl = http.BaseAddress ?? throw new InvalidOperationException("The sandbox connector's HttpClient has no BaseAddress.");
        return new MastodonAccount("The sandbox", new Uri(baseUrl.ToString().TrimEnd('/') + "/"), handle);
    }
}
