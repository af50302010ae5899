using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>A gateway on its own database in front of an <see cref="EchoUpstream"/>, with <paramref name="settings"/> on top of the defaults.</summary>
public abstract class EchoGatewayFixture(IReadOnlyDictionary<string, string?> settings) : IAsyncLifetime, IAsyncDisposable
{
    private readonly TestResources _resources = new();

    public string ConnectionString { get; private set; } = "";
    public EchoUpstream Upstream { get; private set; } = null!;
    public GatewayFactory Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        ConnectionString = await _resources.CreateDatabaseAsync();
        Upstream = _resources.Add(await EchoUpstream.StartAsync());
        Gateway = _resources.Add(GatewayFactory.Create(ConnectionString, Upstream.Address, Upstream.Address, extra: settings));
        _ = Gateway.Server;
    }

    public Task DisposeAsync() => _resources.DisposeAsync().AsTask();

    async ValueTask IAsyncDisposable.DisposeAsync()
    {
        await _resources.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
