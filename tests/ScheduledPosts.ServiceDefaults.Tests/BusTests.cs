using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ScheduledPosts.ServiceDefaults.Messaging;
using ScheduledPosts.Testing;

namespace ScheduledPosts.ServiceDefaults.Tests;

public sealed record BusPing(string Id);

public sealed class BusPingConsumer(ConcurrentDictionary<string, int> received) : IConsumer<BusPing>
{
    public Task Consume(ConsumeContext<BusPing> context)
    {
        received.AddOrUpdate(context.Message.Id, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}

/// <summary>The bus every service uses (AddRabbitMqBus), on the real broker in a fresh virtual host per test.</summary>
public sealed class BusTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly ConcurrentDictionary<string, int> _received = new();
    private readonly List<IHost> _hosts = [];
    private RabbitMqServer _rabbit = null!;
    private string _vhost = "";

    public async Task InitializeAsync() => (_rabbit, _vhost) = await Infrastructure.CreateVirtualHostAsync();

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.StopAsync();
            host.Dispose();
        }

        await Infrastructure.DeleteVirtualHostAsync(_rabbit, _vhost);
    }

    private async Task<IBus> StartAsync(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RabbitMq:Host"] = _rabbit.Host,
            ["RabbitMq:Port"] = _rabbit.Port.ToString(CultureInfo.InvariantCulture),
            ["RabbitMq:VirtualHost"] = _vhost,
            ["RabbitMq:Username"] = _rabbit.Username,
            ["RabbitMq:Password"] = _rabbit.Password,
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddSingleton(_received);
        builder.Services.AddRabbitMqBus(builder.Configuration, x => x.AddConsumer<BusPingConsumer>());
        // Started means the receive endpoint's queue is bound: a ping published then is not dropped.
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        var host = builder.Build();
        _hosts.Add(host);
        await host.StartAsync();
        return host.Services.GetRequiredService<IBus>();
    }

    private async Task DeliveredOnceAsync(IBus bus)
    {
        string id = Guid.NewGuid().ToString("N");
        await bus.Publish(new BusPing(id));
        await Eventually.Until(() => Task.FromResult(_received.GetValueOrDefault(id)), n => n > 0, Patience, $"ping {id} to be consumed");
        Assert.Equal(1, _received[id]);
    }

    private async Task<string?> QueueTypeAsync(string queue)
    {
        using var http = Infrastructure.ManagementClient(_rabbit);
        var info = await http.GetFromJsonAsync<JsonObject>($"api/queues/{Uri.EscapeDataString(_vhost)}/{queue}");
        return info!["type"]?.GetValue<string>();
    }

    [Fact]
    public async Task QuorumQueues_true_declares_quorum_queues_and_messages_go_through()
    {
        var bus = await StartAsync(new() { ["RabbitMq:QuorumQueues"] = "true" });

        await DeliveredOnceAsync(bus);
        Assert.Equal("quorum", await QueueTypeAsync("bus-ping"));
    }

    [Fact]
    public async Task Receive_queues_are_classic_queues_by_default()
    {
        var bus = await StartAsync([]);

        await DeliveredOnceAsync(bus);
        Assert.Equal("classic", await QueueTypeAsync("bus-ping"));
    }

    [Fact]
    public async Task A_list_of_nodes_is_used_instead_of_Host_and_a_node_that_is_down_is_passed_over()
    {
        // Host and Port name nothing that listens: only the list can get the bus to the broker.
        var bus = await StartAsync(new()
        {
            ["RabbitMq:Host"] = "127.0.0.1",
            ["RabbitMq:Port"] = "1",
            ["RabbitMq:Hosts:0"] = "127.0.0.1:1",
            ["RabbitMq:Hosts:1"] = $"{_rabbit.Host}:{_rabbit.Port}",
        });

        await DeliveredOnceAsync(bus);
    }
}
