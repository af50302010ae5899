using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// docs/operations.md#broker-connection-lost on real RabbitMQ: a publisher whose broker connection is lost (a node of a
/// cluster stopped, a connection dropped) finishes the uploads it had claimed instead of cutting them short, and consumes
/// again over a new connection. A class of its own, on a stack of its own: after a reconnect, MassTransit lets a later
/// SIGTERM cancel the consumer only once the uploads in flight end, which <see cref="GracefulShutdownTests"/> would see.
/// </summary>
public sealed class BrokerConnectionLostTests(Stack stack) : IClassFixture<Stack>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_broker_connection_lost_mid_upload_lets_the_upload_finish_and_the_post_publishes_at_its_first_attempt()
    {
        string run = Guid.NewGuid().ToString("N")[..8];
        string slow = $"blip{run}";
        string slowAccount = await stack.ConnectSandboxAccountAsync(slow);
        string otherAccount = await stack.ConnectSandboxAccountAsync($"after{run}");
        // The upload takes 4 s on the platform: the connection is closed under it.
        await stack.InjectFaultAsync(new { handle = slow, latencyMs = 4_000 });
        var connections = await PublisherConnectionsAsync();
        string inFlight = (await stack.CreatePostAsync($"broker blip {run}", slowAccount, DateTimeOffset.UtcNow.AddSeconds(2)))["id"]!.GetValue<string>();
        await Eventually.Until(() => stack.GetPostAsync(inFlight), p => p["status"]!.GetValue<string>() == "publishing", Patience, "the upload to start");

        // What losing a broker node, or a dropped connection, does to the publisher: the channels its messages came on close.
        using (var http = Infrastructure.ManagementClient(stack.RabbitMq))
        {
            foreach (string name in connections)
            {
                (await http.DeleteAsync($"api/connections/{Uri.EscapeDataString(name)}")).EnsureSuccessStatusCode();
            }
        }

        Assert.Equal("publishing", (await stack.GetPostAsync(inFlight))["status"]!.GetValue<string>());

        // The upload was not cut short: the first attempt published it, and nothing was sent twice.
        var published = await Eventually.Until(() => stack.GetPostAsync(inFlight), p => p["status"]!.GetValue<string>() != "publishing", Patience,
            "the upload in flight to be reported");
        Assert.True((published["status"]!.GetValue<string>(), published["targets"]![0]!["attemptCount"]!.GetValue<int>()) == ("published", 1),
            $"{published.ToJsonString()}\n{stack.Logs}");
        Assert.Single(await stack.SandboxStatusesAsync(), s => s.Status == $"broker blip {run}");

        // And the publisher consumes again over its new connection.
        string after = (await stack.CreatePostAsync($"after the blip {run}", otherAccount, DateTimeOffset.UtcNow))["id"]!.GetValue<string>();
        await Eventually.Until(() => stack.GetPostAsync(after), p => p["status"]!.GetValue<string>() == "published", Patience, "a post due after the blip to be published");
    }

    /// <summary>
    /// The names of the publisher's connections to the broker (MassTransit names its process id in each). The management
    /// API lists a new connection a moment after it opens.
    /// </summary>
    private async Task<List<string>> PublisherConnectionsAsync()
    {
        using var http = Infrastructure.ManagementClient(stack.RabbitMq);
        string pid = stack["publisher"].Pid!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return await Eventually.Until(async () =>
            {
                var connections = await http.GetFromJsonAsync<JsonArray>($"api/vhosts/{Uri.EscapeDataString(stack.VirtualHost)}/connections");
                return connections!.Where(c => c!["client_properties"]?["process_id"]?.GetValue<string>() == pid).Select(c => c!["name"]!.GetValue<string>()).ToList();
            }, names => names.Count > 0, TimeSpan.FromSeconds(20), "the management API to list the publisher's connection");
    }
}
