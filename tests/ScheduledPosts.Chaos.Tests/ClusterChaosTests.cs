using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;
using Xunit.Abstractions;

namespace ScheduledPosts.Chaos.Tests;

/// <summary>
/// docs/operations.md, "Clustered RabbitMQ": the suite on a three-node RabbitMQ cluster (quorum queues, every service given
/// the three nodes) loses a node in the middle of a burst — the node the services are connected to — and carries on with
/// the other two: nothing lost, nothing duplicated. The cluster runs only for this scenario; its cleanup stops it.
/// </summary>
[Trait("Category", "Chaos")]
public sealed class ClusterChaosTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    // Live due messages handed to the broker whose target is not claimed yet: in a queue, or in the publisher's hands. Not
    // the stale ones of a target rescheduled since (an older schedule version), which no publisher will act on.
    private const string SentUnclaimed = """
        SELECT count(*) FROM scheduling.outbox o
        JOIN scheduling.targets t ON t.id = o.payload->>'targetId'
        JOIN scheduling.posts p ON p.id = t.post_id
        WHERE o.message_type = 'TargetDue' AND o.sent_at IS NOT NULL AND t.status = 'scheduled'
          AND (o.payload->>'scheduleVersion')::bigint = p.schedule_version
        """;

    [Fact]
    public async Task A_RabbitMQ_cluster_node_the_services_are_connected_to_stopped_mid_burst()
    {
        await ChaosServers.EnsureRunningAsync();
        await ChaosServers.StartClusterAsync();
        try
        {
            await RunAsync();
        }
        finally
        {
            await ChaosServers.StopClusterAsync();
        }
    }

    private async Task RunAsync()
    {
        var nodes = ChaosServers.ClusterNodes;
        // Fewer, slower uploads at once: due messages wait in the queue, so the stop finds them there.
        await using var system = await ChaosSystem.StartAsync(output, (service, environment) =>
        {
            if (service is "scheduling" or "publisher" or "webhooks")
            {
                environment["RabbitMq__QuorumQueues"] = "true";
                for (int i = 0; i < nodes.Count; i++)
                {
                    environment[$"RabbitMq__Hosts__{i}"] = $"{nodes[i].Host}:{nodes[i].Port}";
                }
            }

            if (service == "scheduling")
            {
                // Each pass's count of sent and refused messages, for a failure's output.
                environment["Logging__LogLevel__ScheduledPosts.Scheduling.Outbox.Dispatcher"] = "Debug";
            }

            if (service == "publisher")
            {
                environment["Publisher__ConcurrentMessageLimit"] = "8";
                // How its endpoints stop and start again around the lost node (not each message: MassTransit.Messages), for a
                // failure's output.
                environment["Logging__LogLevel__MassTransit"] = "Debug";
                environment["Logging__LogLevel__MassTransit.Messages"] = "Warning";
            }
        }, broker: nodes[0]);
        // 8 uploads of 400 ms at a time: about 20 targets a second, so the three quarters of the burst left after the first
        // quarter take longer than the node takes to stop.
        await system.SetUploadLatencyAsync(TimeSpan.FromMilliseconds(400));
        // The services' queues are replicated over the three nodes, or losing one would lose what it holds.
        foreach (string queue in new[] { "target-due", "webhooks-post-events" })
        {
            using var management = Infrastructure.ManagementClient(system.Management);
            var info = await management.GetFromJsonAsync<JsonObject>($"api/queues/{Uri.EscapeDataString(system.Suite.VirtualHost)}/{queue}");
            Assert.Equal("quorum", info!["type"]?.GetValue<string>());
            output.WriteLine($"{queue}: leader {info["leader"]}, members {info["members"]?.ToJsonString()}");
        }

        var burst = await Burst.StartAsync(system);

        await burst.AQuarterPublishedAsync(system, Patience);
        // The node holding most of the services' connections (each tries its list's nodes in turn, so usually all are on the first).
        var connections = await system.ConnectionsByNodeAsync();
        string busiest = connections.MaxBy(c => c.Value).Key;
        int stopped = Enumerable.Range(1, nodes.Count).Single(n => ChaosServers.ClusterNodeName(n) == busiest);
        long queued = await system.CountAsync(SentUnclaimed);
        await ChaosServers.StopClusterNodeAsync(stopped);
        try
        {
            await AfterTheStopAsync(system, burst, connections, busiest, stopped, queued);
        }
        finally
        {
            // Back, pass or fail, so the virtual host can be deleted through the first node (a deletion while a member is
            // down leaves the virtual host behind); the node rejoins the cluster by itself.
            await ChaosServers.StartClusterNodeAsync(stopped);
            system.Management = nodes[0];
        }
    }

    private async Task AfterTheStopAsync(ChaosSystem system, Burst burst, Dictionary<string, int> connections, string busiest, int stopped, long queued)
    {
        var nodes = ChaosServers.ClusterNodes;
        int atStop = await burst.OnPlatformAsync(system);
        output.WriteLine($"stopped {busiest} (connections per node: {string.Join(", ", connections.Select(c => $"{c.Key} {c.Value}"))}) " +
            $"with {queued} due messages queued and {atStop} of {burst.TargetCount} targets on the platform");
        Assert.True(queued > 0 && atStop < burst.TargetCount, "nothing was in flight when the node stopped; the scenario proves nothing");

        // The other two nodes carry the queues: the services reconnect to them and the burst completes without the third.
        system.Management = nodes[stopped == 1 ? 1 : 0];
        var moved = await Eventually.Until(system.ConnectionsByNodeAsync, c => c.Values.Sum() >= connections.Values.Sum() && !c.ContainsKey(busiest),
            Patience, "the services to reconnect to the nodes still up");
        output.WriteLine($"reconnected: {string.Join(", ", moved.Select(c => $"{c.Key} {c.Value}"))}");
        await Invariants.HoldAsync(system, burst);
        // The services carried on across the fault, not merely after a burst that had already finished.
        int after = await burst.OnPlatformAsync(system);
        output.WriteLine($"{after - atStop} targets reached the platform after the node stopped");
        Assert.True(after > atStop, "every target was on the platform before the node stopped; the scenario proves nothing");
    }
}
