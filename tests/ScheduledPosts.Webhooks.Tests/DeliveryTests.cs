using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Webhooks.Tests;

public sealed class DeliveryTests(DeliveringWebhooksApp app) : IClassFixture<DeliveringWebhooksApp>, IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private Receiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await Receiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task A_published_event_reaches_each_subscribed_endpoint_signed()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var cancelled = await CreateEndpointAsync(workspace, _receiver.NewUrl(), "post.cancelled");
        var everything = await CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        var publishedOnly = await CreateEndpointAsync(workspace, _receiver.NewUrl(), "post.published");
        var otherWorkspace = await CreateEndpointAsync(WebhooksApp.NewWorkspace(), _receiver.NewUrl(), "*");
        var e = NewEvent(workspace);

        await app.PublishAsync(e);

        foreach (var endpoint in new[] { cancelled, everything })
        {
            var received = await Eventually.Until(() => Task.FromResult(_receiver.RequestsTo(endpoint.Url)), r => r.Count > 0, Timeout, "the webhook");
            var request = Assert.Single(received);
            Assert.Equal("POST", request.Method);
            Assert.Equal("application/json", request.ContentType);
            Assert.Equal(e.EventId, request.Header("webhook-id"));
            long timestamp = long.Parse(request.Header("webhook-timestamp"), System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - timestamp, -5, 60);
            AssertSignedWith(endpoint.Secret, request);

            using var body = JsonDocument.Parse(request.Body);
            Assert.Equal(["id", "type", "timestamp", "data"], body.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.Equal(e.EventId, body.RootElement.GetProperty("id").GetString());
            Assert.Equal("post.cancelled", body.RootElement.GetProperty("type").GetString());
            Assert.Equal("2026-05-25T13:00:00.000Z", body.RootElement.GetProperty("timestamp").GetString());
            Assert.True(JsonElement.DeepEquals(e.Data, body.RootElement.GetProperty("data")), body.RootElement.GetProperty("data").GetRawText());
        }

        // The fan-out commits in one transaction, so once anything was delivered every delivery exists.
        Assert.Equal(2, await app.QuerySingleAsync<int>("SELECT count(*)::int FROM webhooks.deliveries WHERE event_id = @EventId", new { e.EventId }));
        Assert.Empty(_receiver.RequestsTo(publishedOnly.Url));
        Assert.Empty(_receiver.RequestsTo(otherWorkspace.Url));
    }

    [Fact]
    public async Task The_same_event_consumed_twice_is_delivered_once()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await CreateEndpointAsync(workspace, _receiver.NewUrl(), "post.cancelled");
        var e = NewEvent(workspace);

        await Task.WhenAll(app.PublishAsync(e), app.PublishAsync(e));

        await Eventually.Until(() => Task.FromResult(app.Consumed.Count(e.EventId)), n => n == 2, Timeout, "both copies consumed");
        await WaitForStatusAsync(e.EventId, "delivered");
        Assert.Equal(1, await app.QuerySingleAsync<int>("SELECT count(*)::int FROM webhooks.deliveries WHERE event_id = @EventId", new { e.EventId }));
        Assert.Single(_receiver.RequestsTo(endpoint.Url));
    }

    [Fact]
    public async Task A_failed_attempt_is_retried_with_the_same_webhook_id()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await CreateEndpointAsync(workspace, _receiver.NewUrl(500), "*");
        var e = NewEvent(workspace);

        await app.PublishAsync(e);

        var received = await Eventually.Until(() => Task.FromResult(_receiver.RequestsTo(endpoint.Url)), r => r.Count >= 2, Timeout, "two attempts");
        Assert.All(received, r => Assert.Equal(e.EventId, r.Header("webhook-id")));
        Assert.All(received, r => AssertSignedWith(endpoint.Secret, r));
        Assert.Equal(received[0].Body, received[1].Body);

        await WaitForStatusAsync(e.EventId, "delivered");
        var attempts = await app.QueryAsync<(int Attempt, int? StatusCode, int LatencyMs)>("""
            SELECT a.attempt, a.status_code, a.latency_ms FROM webhooks.delivery_attempts a
            JOIN webhooks.deliveries d ON d.id = a.delivery_id WHERE d.event_id = @EventId ORDER BY a.id
            """, new { e.EventId });
        Assert.Equal([(1, 500), (2, 200)], attempts.Select(a => (a.Attempt, a.StatusCode ?? 0)));
        Assert.All(attempts, a => Assert.True(a.LatencyMs >= 0));
        Assert.Equal(2, await app.QuerySingleAsync<int>("SELECT attempt_count FROM webhooks.deliveries WHERE event_id = @EventId", new { e.EventId }));
        Assert.Equal(2, _receiver.RequestsTo(endpoint.Url).Count);
    }

    [Fact]
    public async Task Gone_disables_the_endpoint()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await CreateEndpointAsync(workspace, _receiver.NewUrl(410), "*");
        var e = NewEvent(workspace);

        await app.PublishAsync(e);

        using var client = app.ClientFor(workspace);
        await Eventually.Until(
            async () => (await client.GetFromJsonAsync<JsonElement>($"/v1/webhook-endpoints/{endpoint.Id}")).GetProperty("enabled").GetBoolean(),
            enabled => !enabled, Timeout, "the endpoint disabled");
        await WaitForStatusAsync(e.EventId, "failed");
        Assert.Single(_receiver.RequestsTo(endpoint.Url));
    }

    [Fact]
    public async Task The_sender_is_woken_again_after_its_listen_connection_breaks()
    {
        const string listeners = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'webhooks-listener'";
        int killed = (await Eventually.Until(() => app.QueryAsync<int>(listeners), pids => pids.Count == 1, Timeout, "the listener"))[0];
        await app.QuerySingleAsync<bool>("SELECT pg_terminate_backend(@killed)", new { killed });
        await Eventually.Until(() => app.QueryAsync<int>(listeners), pids => pids.Count == 1 && pids[0] != killed, Timeout, "a new listener");

        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        await app.PublishAsync(NewEvent(workspace));

        // Without a wake-up the sender would sleep for Webhooks:MaxIdle (a minute), past this timeout.
        await Eventually.Until(() => Task.FromResult(_receiver.RequestsTo(endpoint.Url)), r => r.Count == 1, Timeout, "the webhook");
    }

    /// <summary>Verifies the Standard Webhooks signature independently of the service's signer.</summary>
    private static void AssertSignedWith(string secret, ReceivedRequest request)
    {
        byte[] key = Convert.FromBase64String(secret["whsec_".Length..]);
        byte[] signed = Encoding.UTF8.GetBytes($"{request.Header("webhook-id")}.{request.Header("webhook-timestamp")}.{request.Body}");
        using var hmac = new HMACSHA256(key);
        string expected = "v1," + Convert.ToBase64String(hmac.ComputeHash(signed));
        Assert.Contains(expected, request.Header("webhook-signature").Split(' '));
    }

    private async Task WaitForStatusAsync(string eventId, string status)
        => await Eventually.Until(
            () => app.QueryAsync<string>("SELECT status FROM webhooks.deliveries WHERE event_id = @eventId", new { eventId }),
            statuses => statuses.Count > 0 && statuses.All(s => s == status), Timeout, $"deliveries {status}");

    private sealed record Endpoint(string Id, string Url, string Secret);

    private async Task<Endpoint> CreateEndpointAsync(string workspace, string url, params string[] events)
    {
        using var client = app.ClientFor(workspace);
        var response = await client.PostAsJsonAsync("/v1/webhook-endpoints", new { url, events });
        response.EnsureSuccessStatusCode();
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        return new Endpoint(json.GetProperty("id").GetString()!, url, json.GetProperty("secret").GetString()!);
    }

    private static PostCancelled NewEvent(string workspace)
    {
        string postId = Ids.New("post");
        using var data = JsonDocument.Parse($$"""
            {"id": "{{postId}}", "workspaceId": "{{workspace}}", "status": "cancelled", "caption": "Launch day! ünïcödé <&>",
             "scheduledFor": "2026-05-25T13:00:00Z", "scheduleVersion": 3, "metadata": {"campaign": "spring"}, "targets": []}
            """);
        return new PostCancelled
        {
            EventId = Ids.New("evt"),
            Type = "post.cancelled",
            WorkspaceId = workspace,
            PostId = postId,
            ScheduleVersion = 3,
            OccurredAt = new DateTimeOffset(2026, 5, 25, 13, 0, 0, TimeSpan.Zero),
            Data = data.RootElement.Clone(),
        };
    }
}
