namespace ScheduledPosts.Webhooks.Tests;

/// <summary>
/// A request timeout of a minute, so a hanging attempt is still open while the test looks; four deliveries at once in
/// all, at most two per endpoint.
/// </summary>
public sealed class SlowEndpointsApp : WebhooksApp
{
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromMinutes(1);

    protected override IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>
    {
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowLoopback"] = "true",
        ["Webhooks:RequestTimeout"] = "00:01:00",
        ["Webhooks:MaxConcurrentDeliveries"] = "4",
        ["Webhooks:MaxConcurrentPerEndpoint"] = "2",
    };
}

public sealed class SlowEndpointTests(SlowEndpointsApp app) : IClassFixture<SlowEndpointsApp>, IAsyncLifetime
{
    private Receiver _hanging = null!;
    private Receiver _fast = null!;

    public async Task InitializeAsync() => (_hanging, _fast) = (await Receiver.StartAsync(), await Receiver.StartAsync());

    public async Task DisposeAsync()
    {
        await _hanging.DisposeAsync();
        await _fast.DisposeAsync();
    }

    [Fact]
    public async Task A_receiver_that_never_answers_does_not_delay_another_endpoints_deliveries()
    {
        const int events = 20;
        string workspace = WebhooksApp.NewWorkspace();
        // Created first, so its deliveries come first in every claim.
        var hanging = await app.CreateEndpointAsync(workspace, _hanging.NewHangingUrl(), "*");
        var fast = await app.CreateEndpointAsync(workspace, _fast.NewUrl(), "*");

        await Task.WhenAll(Enumerable.Range(0, events).Select(_ => app.PublishAsync(TestApi.NewEvent(workspace))));

        // While the hanging endpoint's attempts are still open (none has timed out: their attempt counts are still 0,
        // below): were the hanging endpoint allowed every slot, the fast one's webhooks would wait for those timeouts.
        var delivered = await _fast.WaitForRequestsAsync(fast.Url, events, "the fast endpoint's webhooks", SlowEndpointsApp.RequestTimeout / 2);
        Assert.Equal(events, delivered.Select(r => r.Header("webhook-id")).Distinct().Count());
        Assert.Equal(2, _hanging.RequestsTo(hanging.Url).Count); // its per-endpoint cap, all still hanging
        Assert.All(await app.DeliveriesAsync(workspace, hanging.Id, "?limit=100"), d => Assert.Equal(0, d.GetProperty("attemptCount").GetInt32()));
    }
}
