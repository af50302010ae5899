using ScheduledPosts.Testing;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>A retry four seconds after a failed attempt: long enough to stop the service while it waits.</summary>
public sealed class RestartableApp : WebhooksApp
{
    protected override IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>
    {
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowLoopback"] = "true",
        ["Webhooks:RetrySchedule:0"] = "00:00:04",
        ["Webhooks:SecretKey"] = TestSecretKey,
    };
}

public sealed class RestartTests(RestartableApp app) : IClassFixture<RestartableApp>, IAsyncLifetime
{
    private Receiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await Receiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task A_delivery_waiting_for_its_retry_is_sent_by_the_restarted_service_with_the_same_webhook_id()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(500), "*");
        var e = TestApi.NewEvent(workspace);
        await app.PublishAsync(e);
        await app.WaitForDeliveryAsync(workspace, endpoint.Id, e.EventId,
            d => d.GetProperty("attemptCount").GetInt32() == 1, "the first attempt (500) recorded");

        await app.StopAsync();

        // Stopped while the retry was still to come: nothing but the first attempt has happened.
        var waiting = await app.QuerySingleAsync<(string Status, int AttemptCount)>(
            "SELECT status, attempt_count FROM webhooks.deliveries WHERE event_id = @EventId", new { e.EventId });
        Assert.Equal(("pending", 1), waiting);
        Assert.Single(_receiver.RequestsTo(endpoint.Url));
        var restartedAt = DateTimeOffset.UtcNow;

        await app.StartAsync();

        var delivered = await app.WaitForDeliveryAsync(workspace, endpoint.Id, e.EventId, d => d.Status() == "delivered", "delivered after the restart");
        Assert.Equal([500, 200], delivered.AttemptStatusCodes());
        var received = _receiver.RequestsTo(endpoint.Url);
        Assert.Equal(2, received.Count);
        Assert.True(received[1].ReceivedAt >= restartedAt);
        Assert.All(received, r => Assert.Equal(e.EventId, r.Header("webhook-id")));
        await StandardWebhooks.AssertVerifiesAsync(endpoint.Secret, received);
    }

    [Fact]
    public async Task A_secret_stored_before_a_key_was_configured_is_encrypted_at_the_next_start_and_still_signs()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        string secret = Signing.WebhookSignature.NewSecret();
        // As a service without Webhooks:SecretKey stored it.
        await app.QuerySingleAsync<int>("UPDATE webhooks.endpoints SET secret = @secret WHERE id = @Id RETURNING 1", new { secret, endpoint.Id });

        await app.StopAsync();
        await app.StartAsync();

        string stored = await app.QuerySingleAsync<string>("SELECT secret FROM webhooks.endpoints WHERE id = @Id", new { endpoint.Id });
        Assert.StartsWith("aesgcm1:", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(secret["whsec_".Length..], stored, StringComparison.Ordinal);
        await app.PublishAsync(TestApi.NewEvent(workspace));
        var request = Assert.Single(await _receiver.WaitForRequestsAsync(endpoint.Url, 1, "the webhook"));
        await StandardWebhooks.AssertVerifiesAsync(secret, [request]);
    }
}
