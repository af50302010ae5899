using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// docs/operations.md#graceful-shutdown on real RabbitMQ: a publisher sent SIGTERM is handed no new message, lets the upload in
/// flight finish and report, and exits; what falls due meanwhile waits in the queue for the next publisher: ready, beside
/// the one unacknowledged upload, not merely a consumer fewer in the management API. (On quorum queues this fails: the
/// stopping publisher is handed the new message and publishes it, docs/operations.md#clustered-rabbitmq.)
/// </summary>
public sealed class GracefulShutdownTests(GracefulShutdownTests.PatientPublisherStack stack) : IClassFixture<GracefulShutdownTests.PatientPublisherStack>
{
    /// <summary>
    /// A publisher that gives uploads in flight 50 s on SIGTERM (20 s by default) and the sandbox a minute to answer, so
    /// the slow upload below outlasts what the test watches meanwhile even on a loaded machine, where the management
    /// API's figures come late.
    /// </summary>
    public sealed class PatientPublisherStack : Stack
    {
        protected override void Configure(string service, Dictionary<string, string> environment)
        {
            if (service == "publisher")
            {
                environment["Publisher__UploadGracePeriod"] = "00:00:50";
                environment["Publisher__ShutdownTimeout"] = "00:01:00";
                environment["Sandbox__Timeout"] = "00:01:00";
            }
        }
    }

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan UploadTime = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task SIGTERM_hands_the_publisher_no_new_message_finishes_the_upload_in_flight_and_the_next_publisher_publishes_the_rest_once()
    {
        string run = Guid.NewGuid().ToString("N")[..8];
        string slow = $"slow{run}";
        string slowAccount = await stack.ConnectSandboxAccountAsync(slow);
        string otherAccount = await stack.ConnectSandboxAccountAsync($"next{run}");
        // The upload takes 30 s on the platform (within the grace period): it is in flight when the publisher is told to
        // stop, and still is while the test watches what the stopping publisher is handed.
        await stack.InjectFaultAsync(new { handle = slow, latencyMs = (int)UploadTime.TotalMilliseconds });
        string inFlight = (await stack.CreatePostAsync($"in flight {run}", slowAccount, DateTimeOffset.UtcNow.AddSeconds(2)))["id"]!.GetValue<string>();
        await Eventually.Until(() => stack.GetPostAsync(inFlight), p => p["status"]!.GetValue<string>() == "publishing", Patience, "the upload to start");
        // The management API's figures lag a little (and are absent for a moment after the queue appears).
        await Eventually.Until(async () => (await TargetDueQueueAsync()).Consumers, n => n == 1, TimeSpan.FromSeconds(10),
            "the management API to show the publisher consuming target-due");

        using var publisher = Process.GetProcessById(stack["publisher"].Pid!.Value);
        await TerminateAsync(publisher);

        // A post falling due now is not handed to the stopping publisher (it would take it at once: it has room for 128):
        // its message waits ready in the queue while the publisher holds only the upload in flight.
        string later = (await stack.CreatePostAsync($"due while stopping {run}", otherAccount, DateTimeOffset.UtcNow))["id"]!.GetValue<string>();
        await Eventually.Until(TargetDueQueueAsync, q => q is { Ready: 1, Unacknowledged: 1 }, UploadTime,
            "the second post's message to wait in target-due beside the upload in flight");
        Assert.False(publisher.HasExited, "the publisher exited before the second post's message was seen waiting");
        Assert.Equal("publishing", (await stack.GetPostAsync(inFlight))["status"]!.GetValue<string>());

        using (var exit = new CancellationTokenSource(TimeSpan.FromSeconds(70)))
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

    private sealed record QueueDepth(int Consumers, int Ready, int Unacknowledged);

    /// <summary>The publisher's queue as the RabbitMQ management API shows it (its figures lag by a few seconds at most).</summary>
    private async Task<QueueDepth> TargetDueQueueAsync()
    {
        var rabbit = stack.RabbitMq;
        using var http = Infrastructure.ManagementClient(rabbit);
        var queue = (await http.GetFromJsonAsync<JsonObject>($"api/queues/{Uri.EscapeDataString(stack.VirtualHost)}/target-due"))!;
        int Figure(string name) => queue[name]?.GetValue<int>() ?? 0;
        return new QueueDepth(Figure("consumers"), Figure("messages_ready"), Figure("messages_unacknowledged"));
    }
}
