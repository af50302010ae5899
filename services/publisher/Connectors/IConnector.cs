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

/// <summary>
/// A connector of a platform that does not dedupe a repeated request but lets its posts be looked up
/// (<see cref="PlatformCapabilities.FindsLostPosts"/>). Before every attempt after the first, the publisher asks it for
/// what an earlier attempt may have posted, and records that instead of posting again.
/// </summary>
public interface IFindingConnector : IConnector
{
    /// <summary>
    /// The post an earlier attempt of <paramref name="upload"/> made (<see cref="ConnectorResult.Published"/>), searched
    /// among the account's posts since <see cref="Upload.FirstAttemptAt"/>; null when there is none. A lookup that fails
    /// answers <see cref="ConnectorResult.Failed"/>, and nothing is posted.
    /// </summary>
    Task<ConnectorResult?> FindEarlierAsync(Upload upload, CancellationToken cancellationToken);
}

/// <summary>What unpublish removes: a target's published copy, by the platform's id for it.</summary>
/// <param name="CredentialsJson">The account's decrypted credentials, as for an upload; <c>{}</c> when none.</param>
public sealed record Removal(string TargetId, string AccountHandle, string CredentialsJson, string ExternalPostId, int Attempt = 1);

/// <summary>
/// A connector of a platform that lets an author delete a post (<see cref="PlatformCapabilities.Unpublishes"/>). A
/// deletion is idempotent: a post the platform no longer has (404) counts as removed.
/// </summary>
public interface IUnpublishingConnector : IConnector
{
    /// <summary>Null once the copy is gone; else why not, and whether trying again may help. Throws only when cancelled.</summary>
    Task<ConnectorResult.Failed?> UnpublishAsync(Removal removal, CancellationToken cancellationToken);
}
