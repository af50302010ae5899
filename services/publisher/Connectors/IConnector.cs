using ScheduledPosts.Contracts.Platforms;

namespace ScheduledPosts.Publisher.Connectors;

/// <summary>
/// Uploads a claimed target to one platform. A connector turns every answer of its platform, and every failure to
/// get one, into a <see cref="ConnectorResult"/>; it throws only when cancelled.
/// </summary>
public interface IConnector
{
    /// <summary>What the platform accepts, from <see cref="Platforms.Known"/>; its name is the platform's as stored.</summary>
    PlatformCapabilities Capabilities { get; }

    Task<ConnectorResult> PublishAsync(Upload upload, CancellationToken cancellationToken);
}
