using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using ScheduledPosts.Testing;
using ScheduledPosts.Webhooks.Deliveries;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>The webhooks service sweeps only when a test asks (and once at start); a failed attempt retries an hour later.</summary>
public sealed class RetentionWebhooksApp : WebhooksApp
{
    protected override IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>
    {
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowLoopback"] = "true",
        ["Webhooks:RetrySchedule:0"] = "01:00:00",
        ["Webhooks:RequestTimeout"] = "00:00:05",
        ["Webhooks:Retention:Interval"] = "1.00:00:00",
    };

    public Task<WebhookSweepResult> SweepAsync() => Factory.Services.GetRequiredService<RetentionSweeper>().SweepAsync(CancellationToken.None);
}

/// <summary>Retention (docs/operations.md#retention): old finished deliveries, their attempts and events go; pending ones stay.</summary>
public sealed class RetentionTests(RetentionWebhooksApp app) : IClassFixture<RetentionWebhooksApp>, IAsyncLifetime
{
    private Receiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await Receiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    private async Task<int> CountAsync(string table, string column, string id)
        => await app.QuerySingleAsync<int>($"SELECT count(*)::int FROM webhooks.{table} WHERE {column} = @id", new { id });

    private async Task ExecuteAsync(string sql, object? parameters = null)
    {
        await using var connection = new NpgsqlConnection(app.ConnectionString);
        await connection.ExecuteAsync(sql, parameters);
    }

    private async Task PublishAndWaitAsync(ScheduledPosts.Contracts.Messages.PostEvent e)
    {
        await app.PublishAsync(e);
        await Eventually.Until(() => Task.FromResult(app.Consumed.Count(e.EventId)), n => n >= 1, TestApi.Patience, $"{e.EventId} to be consumed");
    }

    [Fact]
    public async Task Old_finished_deliveries_their_attempts_and_events_are_purged_and_pending_ones_are_kept()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var accepting = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "post.cancelled");
        var failing = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(500), "post.published");
        var delivered = TestApi.NewEvent(workspace);
        var recent = TestApi.NewEvent(workspace);
        var pending = TestApi.NewEvent(workspace, "post.published");
        var unsubscribed = TestApi.NewEvent(workspace, "post.deleted");
        var elsewhere = TestApi.NewEvent(WebhooksApp.NewWorkspace());

        foreach (var e in new[] { delivered, recent, pending, unsubscribed, elsewhere })
        {
            await PublishAndWaitAsync(e);
        }

        await app.WaitForDeliveryAsync(workspace, accepting.Id, delivered.EventId, d => d.Status() == "delivered", "the delivery");
        await app.WaitForDeliveryAsync(workspace, accepting.Id, recent.EventId, d => d.Status() == "delivered", "the recent delivery");
        string pendingId = (await app.WaitForDeliveryAsync(workspace, failing.Id, pending.EventId,
            d => d.Status() == "pending" && d.AttemptStatusCodes().Count == 1, "the failed first attempt")).GetProperty("id").GetString()!;
        string deliveredId = (await app.DeliveriesAsync(workspace, accepting.Id)).Single(d => d.GetProperty("eventId").GetString() == delivered.EventId)
            .GetProperty("id").GetString()!;

        // An event nobody subscribed to is stored (a redelivered message is recognised) and has no delivery.
        Assert.Equal(1, await CountAsync("events", "id", unsubscribed.EventId));
        Assert.Equal(0, await CountAsync("deliveries", "event_id", unsubscribed.EventId));

        // Age everything but the recent event's rows past every window.
        string[] old = [delivered.EventId, pending.EventId, unsubscribed.EventId, elsewhere.EventId];
        await ExecuteAsync("""
            WITH e AS (UPDATE webhooks.events SET received_at = now() - interval '31 days' WHERE id = ANY (@old)),
                 d AS (UPDATE webhooks.deliveries SET created_at = now() - interval '31 days', updated_at = now() - interval '31 days'
                       WHERE event_id = ANY (@old) RETURNING id)
            UPDATE webhooks.delivery_attempts SET attempted_at = now() - interval '31 days' WHERE delivery_id IN (SELECT id FROM d)
            """, new { old });

        var result = await app.SweepAsync();

        Assert.Equal(0, result.StepsFailed);
        Assert.Equal(0, await CountAsync("deliveries", "id", deliveredId));
        Assert.Equal(0, await CountAsync("delivery_attempts", "delivery_id", deliveredId));
        Assert.Equal(0, await CountAsync("events", "id", delivered.EventId));
        Assert.Equal(0, await CountAsync("events", "id", unsubscribed.EventId));
        Assert.Equal(0, await CountAsync("events", "id", elsewhere.EventId));

        // The pending delivery keeps its event and its attempt; the recent delivery is untouched.
        Assert.Equal(1, await CountAsync("deliveries", "id", pendingId));
        Assert.Equal(1, await CountAsync("delivery_attempts", "delivery_id", pendingId));
        Assert.Equal(1, await CountAsync("events", "id", pending.EventId));
        var listed = Assert.Single(await app.DeliveriesAsync(workspace, accepting.Id));
        Assert.Equal(recent.EventId, listed.GetProperty("eventId").GetString());
        Assert.Single(listed.GetProperty("attempts").EnumerateArray());
        Assert.Equal("pending", Assert.Single(await app.DeliveriesAsync(workspace, failing.Id)).Status());

        // A second sweep finds nothing more.
        Assert.Equal(new WebhookSweepResult(0, 0, 0, 0, 0), await app.SweepAsync());
    }

    [Fact]
    public async Task A_finished_delivery_younger_than_the_window_can_still_be_redelivered()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "post.cancelled");
        var e = TestApi.NewEvent(workspace);
        await PublishAndWaitAsync(e);
        string id = (await app.WaitForDeliveryAsync(workspace, endpoint.Id, e.EventId, d => d.Status() == "delivered", "the delivery"))
            .GetProperty("id").GetString()!;
        await ExecuteAsync("UPDATE webhooks.deliveries SET updated_at = now() - interval '29 days' WHERE id = @id", new { id });

        await app.SweepAsync();

        await app.PostJsonAsync(workspace, $"/v1/webhook-deliveries/{id}/redeliver", System.Net.HttpStatusCode.Accepted);
        await _receiver.WaitForRequestsAsync(endpoint.Url, 2, "the redelivery");
    }

    [Fact]
    public async Task Idempotency_keys_go_once_their_24_hour_replay_window_has_passed()
    {
        string workspace = WebhooksApp.NewWorkspace();
        await ExecuteAsync("""
            INSERT INTO webhooks.idempotency_keys (workspace_id, key, request_hash, status_code, created_at)
            VALUES (@workspace, 'old', '\x00', 200, now() - interval '25 hours'), (@workspace, 'fresh', '\x00', 200, now() - interval '23 hours')
            """, new { workspace });

        var result = await app.SweepAsync();

        Assert.Equal((1, 0), (result.IdempotencyKeys, result.StepsFailed));
        Assert.Equal(["fresh"], await app.QueryAsync<string>("SELECT key FROM webhooks.idempotency_keys WHERE workspace_id = @workspace", new { workspace }));
    }
}
