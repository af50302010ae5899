namespace ScheduledPosts.Publisher.Connectors;

/// <summary>The registered connectors, by platform.</summary>
public sealed class ConnectorRegistry(IEnumerable<IConnector> connectors)
{
    private readonly Dictionary<string, IConnector> _byPlatform =
        connectors.ToDictionary(c => c.Capabilities.Platform, StringComparer.OrdinalIgnoreCase);

    public IConnector? Find(string platform) => _byPlatform.GetValueOrDefault(platform);
}
