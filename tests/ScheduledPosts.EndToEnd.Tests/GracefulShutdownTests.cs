using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// docs/operations.md#graceful-shutdown on real RabbitMQ: a publisher sent SIGTERM stops consuming at once, lets the upload in flight finish and
/// report, and exits; what falls due meanwhile waits in the queue for the next publisher.
/// </summary>
public sealed class GracefulShutdownTests(Stack stack) : IClassFixture<Stack>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SIGTERM_stops_consuming_finishes_the_upload_in_flight_and_the_next_publisher_publishes_the_rest_once()
    {
        string run = Guid.NewGuid().ToString("N")[..8];
        string slow = $"slow{run}";
        string slowAccount = await stack.ConnectSandboxAccountAsync(slow);
        string otherAccount = await stack.ConnectSandboxAccountAsync($"next{run}");
        // The upload takes 8 s on the platform: it is in flight when the publisher is told to stop.
        await stack.InjectFaultAsync(new { handle = slow, latencyMs = 8_000 });
        // The management API's figures lag by up to its statistics interval (and are absent for a moment after the queue
        // appears): waited for before the upload starts, so the wait does not eat into it.
        await Eventually.Until(ConsumersAsync, n => n == 1, TimeSpan.FromSeconds(10), "the management API to show the publisher consuming target-due");
        string inFlight = (await stack.CreatePostAsync($"in flight {run}", slowAccount, DateTimeOffset.UtcNow.AddSeconds(2)))["id"]!.GetValue<string>();
        await Eventually.Until(() => stack.GetPostAsync(inFlight), p => p["status"]!.GetValue<string>() == "publishing", Patience, "the upload to start");

        using var publisher = Process.GetProcessById(stack["publisher"].Pid!.Value);
        await TerminateAsync(publisher);

        // It stops taking messages while the upload is still in flight...
        await Eventually.Until(ConsumersAsync, n => n == 0, TimeSpan.FromSeconds(10), "the publisher to stop consuming target-due");
        Assert.Equal("publishing", (await stack.GetPostAsync(inFlight))["status"]!.GetValue<string>());
        // ...so a post falling due now waits in the queue.
        string later = (await stack.CreatePostAsync($"due while stopping {run}", otherAccount, DateTimeOffset.UtcNow))["id"]!.GetValue<string>();
        await Eventually.Until(ReadyMessagesAsync, n => n >= 1, TimeSpan.FromSeconds(20), "the second post's message to wait in target-due");

        using (var exit = new CancellationTokenSource(TimeSpan.FromSeconds(40)))
        {
            await publisher.WaitForExitAsync(exit.Token);
        }

        // The upload in flight finished and was reported before the process exited; nobody took the other.
        var finished = await stack.GetPostAsync(inFlight);
        Assert.True(finished["status"]!.GetValue<string>() == "published", $"{finished.ToJsonString()}\n{stack.Logs}");
        var waiting = await stack.GetPostAsync(later);
        Assert.Equal(("scheduled", 0), (waiting["status"]!.GetValue<string>(), waiting["targets"]![0]!["attemptCount"]!.GetValue<int>()));

        await stack["publisher"].StartAsync();
        await Eventually.Until(() => stack.GetPostAsync(later), p => p["status"]!.GetValue<string>() == "published", Patience, "the waiting post to be published");
        var statuses = await stack.SandboxStatusesAsync();
        Assert.Single(statuses, s => s.Status == $"in flight {run}");
        Assert.Single(statuses, s => s.Status == $"due while stopping {run}");
        Assert.Equal("0", await stack.ScalarAsync("SELECT count(*) FROM scheduling.targets WHERE status = 'publishing'"));
    }

    // What a container runtime or systemd sends to stop a service.
    private static async Task TerminateAsync(Process process)
    {
        using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    private async Task<int> ConsumersAsync() => (await TargetDueQueueAsync())["consumers"]?.GetValue<int>() ?? 0;

    private async Task<int> ReadyMessagesAsync() => (await TargetDueQueueAsync())["messages_ready"]?.GetValue<int>() ?? 0;

    /// <summary>The publisher's queue as the RabbitMQ management API shows it (its figures lag by a few seconds at most).</summary>
    private async Task<JsonObject> TargetDueQueueAsync()
    {
        var rabbit = stack.RabbitMq;
        using var http = Infrastructure.ManagementClient(rabbit);
        return (await http.GetFromJsonAsync<JsonObject>($"api/queues/{Uri.EscapeDataString(stack.VirtualHost)}/target-due"))!;
    }
}
