using ScheduledPosts.ServiceDefaults;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>At most two deliveries per endpoint at once, and room for more in all: the per-endpoint cap is what a backlog queues behind.</summary>
public sealed class BacklogApp : WebhooksApp
{
    public const int PerEndpoint = 2;

    protected override IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>
    {
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowLoopback"] = "true",
        ["Webhooks:MaxConcurrentDeliveries"] = "32",
        ["Webhooks:MaxConcurrentPerEndpoint"] = PerEndpoint.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

public sealed class BacklogTests(BacklogApp app) : IClassFixture<BacklogApp>, IAsyncLifetime
{
    private Receiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await Receiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task A_backlog_across_many_endpoints_is_all_delivered_once_each_never_above_the_per_endpoint_cap()
    {
        const int endpoints = 12, events = 25; // 24 slots at the per-endpoint cap, fewer than the 32 in all
        string workspace = WebhooksApp.NewWorkspace();
        // Slow enough that every endpoint's deliveries queue behind its cap, and delivered attempts hand their slots on.
        var created = new List<CreatedEndpoint>();
        for (int i = 0; i < endpoints; i++)
        {
            created.Add(await app.CreateEndpointAsync(workspace, _receiver.NewSlowUrl(TimeSpan.FromMilliseconds(20)), "*"));
        }

        var published = Enumerable.Range(0, events).Select(_ => TestApi.NewEvent(workspace)).ToList();
        await Task.WhenAll(published.Select(app.PublishAsync));

        foreach (var endpoint in created)
        {
            var received = await _receiver.WaitForRequestsAsync(endpoint.Url, events, $"{events} webhooks at {endpoint.Id}");
            Assert.Equal(published.Select(e => e.EventId).Order(), received.Select(r => r.Header("webhook-id")).Order());
            Assert.InRange(_receiver.MaxConcurrent(endpoint.Url), 1, BacklogApp.PerEndpoint);
        }

        var deliveries = await app.QueryAsync<(string Status, int AttemptCount, bool Leased)>(
            "SELECT status, attempt_count, lease_id IS NOT NULL FROM webhooks.deliveries WHERE workspace_id = @workspace", new { workspace });
        Assert.Equal(endpoints * events, deliveries.Count);
        Assert.All(deliveries, d => Assert.Equal(("delivered", 1, false), d));
    }

    [Fact]
    public async Task Deliveries_another_sender_holds_count_against_the_endpoints_cap()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var held = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "post.cancelled");
        var free = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "post.cancelled");
        // As another replica would hold them: the endpoint's whole cap, leased for an hour, its attempts under way.
        for (int i = 0; i < BacklogApp.PerEndpoint; i++)
        {
            await app.QuerySingleAsync<int>("""
                WITH event AS (
                    INSERT INTO webhooks.events (id, workspace_id, type, occurred_at, body, received_at)
                    VALUES (@eventId, @workspace, 'post.cancelled', now(), '{}', now())
                    RETURNING id)
                INSERT INTO webhooks.deliveries (id, event_id, endpoint_id, workspace_id, status, next_attempt_at, lease_id, created_at, updated_at)
                SELECT @deliveryId, id, @endpoint, @workspace, 'pending', now() + interval '1 hour', gen_random_uuid(), now(), now() FROM event
                RETURNING 1
                """, new { eventId = Ids.New("evt"), deliveryId = Ids.New("dlv"), workspace, endpoint = held.Id });
        }

        const int events = 5;
        await Task.WhenAll(Enumerable.Range(0, events).Select(_ => app.PublishAsync(TestApi.NewEvent(workspace))));

        // The other endpoint's webhooks went out, so claims have run since the events were recorded.
        await _receiver.WaitForRequestsAsync(free.Url, events, "the free endpoint's webhooks");
        Assert.Empty(_receiver.RequestsTo(held.Url));
        var waiting = await app.QueryAsync<(string Status, int AttemptCount)>(
            "SELECT status, attempt_count FROM webhooks.deliveries WHERE endpoint_id = @Id AND lease_id IS NULL", new { held.Id });
        Assert.Equal(events, waiting.Count);
        Assert.All(waiting, d => Assert.Equal(("pending", 0), d));
    }
}
