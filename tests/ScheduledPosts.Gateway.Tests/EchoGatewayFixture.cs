using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>A gateway on its own database in front of an <see cref="EchoUpstream"/>, with <paramref name="settings"/> on top of the defaults.</summary>
public abstract class EchoGatewayFixture(IReadOnlyDictionary<string, string?> settings) : IAsyncLifetime
{
    public string ConnectionString { get; private set; } = "";
    public EchoUpstream Upstream { get; private set; } = null!;
    public GatewayFactory Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        ConnectionString = await Infrastructure.CreateDatabaseAsync();
        Upstream = await EchoUpstream.StartAsync();
        Gateway = GatewayFactory.Create(ConnectionString, Upstream.Address, Upstream.Address, extra: settings);
        _ = Gateway.Server;
    }

    public async Task DisposeAsync()
    {
        // Null when InitializeAsync failed half-way.
        await (Gateway?.DisposeAsync() ?? ValueTask.CompletedTask);
        await (Upstream?.DisposeAsync() ?? ValueTask.CompletedTask);
    }
}
