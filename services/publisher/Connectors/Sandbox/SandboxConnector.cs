using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Publisher.Connectors.Mastodon;

namespace ScheduledPosts.Publisher.Connectors.Sandbox;

/// <summary>
/// Publishes to the project's sandbox platform (services/sandbox), which speaks the Mastodon subset
/// <see cref="MastodonClient"/> uses. The sandbox has no OAuth: the account handle is its access token, so the
/// handle goes in <c>Authorization: Bearer</c> and the sandbox records the status under that account. Like
/// Mastodon, it honours <c>Idempotency-Key</c>.
/// </summary>
public sealed class SandboxConnector(HttpClient http, TimeProvider clock, ILogger<SandboxConnector> logger) : IConnector
{
    public const string PlatformName = Platforms.Sandbox;

    public PlatformCapabilities Capabilities => Platforms.Known[Platforms.Sandbox];

    public Task<ConnectorResult> PublishAsync(Upload upload, CancellationToken cancellationToken)
    {
        var baseUrl = http.BaseAddress ?? throw new InvalidOperationException("The sandbox connector's HttpClient has no BaseAddress.");
        var account = new MastodonAccount("The sandbox", new Uri(baseUrl.ToString().TrimEnd('/') + "/"), upload.AccountHandle);
        return new MastodonClient(http, clock, logger).PublishAsync(account, upload, MediaPolling.Default, cancellationToken);
    }
}
