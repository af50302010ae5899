using System.Net;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>Endpoints disabled after failing every attempt for one second (five days in production); retries every 200 ms.</summary>
public sealed class ImpatientApp : WebhooksApp
{
    public static readonly TimeSpan DisableAfter = TimeSpan.FromSeconds(1);

    protected override IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>(
        Enumerable.Range(0, 20).Select(i => KeyValuePair.Create($"Webhooks:RetrySchedule:{i}", "00:00:00.200")))
    {
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowLoopback"] = "true",
        ["Webhooks:DisableAfterFailingFor"] = "00:00:01",
    };
}

public sealed class EndpointHealthTests(ImpatientApp app) : IClassFixture<ImpatientApp>, IAsyncLifetime
{
    private Receiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await Receiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task An_endpoint_failing_every_attempt_for_the_configured_time_is_disabled_and_one_that_recovered_is_not()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var failing = await app.CreateEndpointAsync(workspace, _receiver.NewUrl([.. Enumerable.Repeat(500, 100)]), "post.published");
        // Fails once, succeeds on the retry; later fails once more.
        var recovered = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(500, 200, 503), "post.cancelled");
        var toFailing = TestApi.NewEvent(workspace, "post.published");
        var toRecovered = TestApi.NewEvent(workspace, "post.cancelled");

        await Task.WhenAll(app.PublishAsync(toFailing), app.PublishAsync(toRecovered));

        var disabled = await Eventually.Until(() => app.GetJsonAsync(workspace, $"/v1/webhook-endpoints/{failing.Id}"),
            e => !e.GetProperty("enabled").GetBoolean(), TestApi.Patience, "the failing endpoint disabled");
        Assert.StartsWith("Every attempt failed since ", disabled.GetProperty("disabledReason").GetString(), StringComparison.Ordinal);
        var failed = await app.WaitForDeliveryAsync(workspace, failing.Id, toFailing.EventId, d => d.Status() == "failed", "the pending delivery failed");
        var attemptTimes = failed.GetProperty("attempts").EnumerateArray().Select(a => a.GetProperty("attemptedAt").GetDateTimeOffset()).ToList();
        // The attempt that disabled it came a second (to the millisecond shown) after the first failure; the one before, sooner.
        Assert.InRange(attemptTimes[^1] - attemptTimes[0], ImpatientApp.DisableAfter - TimeSpan.FromMilliseconds(1), TimeSpan.MaxValue);
        Assert.InRange(attemptTimes[^2] - attemptTimes[0], TimeSpan.Zero, ImpatientApp.DisableAfter);
        Assert.Equal(attemptTimes.Count, _receiver.RequestsTo(failing.Url).Count); // and nothing was sent after it

        // The other endpoint's first failure is as old, but it succeeded since: a new failure starts a new streak.
        Assert.Equal(2, _receiver.RequestsTo(recovered.Url).Count);
        var later = TestApi.NewEvent(workspace, "post.cancelled");
        await app.PublishAsync(later);
        await app.WaitForDeliveryAsync(workspace, recovered.Id, later.EventId, d => d.GetProperty("attemptCount").GetInt32() >= 1, "the later failure recorded");
        Assert.True((await app.GetJsonAsync(workspace, $"/v1/webhook-endpoints/{recovered.Id}")).GetProperty("enabled").GetBoolean());
        await app.WaitForDeliveryAsync(workspace, recovered.Id, later.EventId, d => d.Status() == "delivered", "the later event delivered");

        // Enabling it again through the API restarts its streak too.
        using var client = app.ClientFor(workspace);
        var enabled = await client.PatchAsync($"/v1/webhook-endpoints/{failing.Id}",
            new StringContent("""{"enabled": true}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, enabled.StatusCode);
        Assert.Equal(0, await app.QuerySingleAsync<int>(
            "SELECT count(*)::int FROM webhooks.endpoints WHERE id = @Id AND (failing_since IS NOT NULL OR disabled_reason IS NOT NULL)", new { failing.Id }));
    }
}
