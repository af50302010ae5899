using Microsoft.Extensions.DependencyInjection;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.Testing;
using ScheduledPosts.Webhooks.Deliveries;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>
/// The production timeout (10 s), eight deliveries at once in all, at most two per endpoint and four per workspace:
/// without the workspace cap, four dead endpoints of one workspace would hold every slot.
/// </summary>
public sealed class NoisyWorkspaceApp : WebhooksApp
{
    public const int PerWorkspace = 4;
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    protected override IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>
    {
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowLoopback"] = "true",
        ["Webhooks:RequestTimeout"] = "00:00:10",
        ["Webhooks:MaxConcurrentDeliveries"] = "8",
        ["Webhooks:MaxConcurrentPerEndpoint"] = "2",
        ["Webhooks:MaxConcurrentPerWorkspace"] = PerWorkspace.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

public sealed class NoisyWorkspaceTests(NoisyWorkspaceApp app) : IClassFixture<NoisyWorkspaceApp>, IAsyncLifetime
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
    public async Task One_workspaces_hanging_endpoints_hold_its_share_of_the_slots_and_another_workspaces_webhooks_go_out()
    {
        const int hangingEndpoints = 5, noisyEvents = 10, events = 20;
        string noisy = WebhooksApp.NewWorkspace(), quiet = WebhooksApp.NewWorkspace();
        var hanging = new List<CreatedEndpoint>();
        for (int i = 0; i < hangingEndpoints; i++)
        {
            hanging.Add(await app.CreateEndpointAsync(noisy, _hanging.NewHangingUrl(), "*"));
        }

        var fast = await app.CreateEndpointAsync(quiet, _fast.NewUrl(), "*");

        // The noisy workspace's backlog first, so it is the oldest due in every claim: its endpoints could take all
        // eight slots (five endpoints, two each) but for the workspace cap.
        await Task.WhenAll(Enumerable.Range(0, noisyEvents).Select(_ => app.PublishAsync(TestApi.NewEvent(noisy))));
        await Eventually.Until(() => Task.FromResult(HangingRequests()), n => n >= NoisyWorkspaceApp.PerWorkspace,
            NoisyWorkspaceApp.RequestTimeout / 2, "the noisy workspace's hanging requests");

        await Task.WhenAll(Enumerable.Range(0, events).Select(_ => app.PublishAsync(TestApi.NewEvent(quiet))));

        // Before the first hanging attempt times out (10 s): were the noisy workspace allowed every slot, the quiet
        // one's webhooks would wait for those timeouts. What shows it is below, not a stopwatch: when the quiet
        // webhooks are in, every hanging attempt is still hanging and none has been recorded.
        var delivered = await _fast.WaitForRequestsAsync(fast.Url, events, "the quiet workspace's webhooks", NoisyWorkspaceApp.RequestTimeout);
        Assert.Equal(events, delivered.Select(r => r.Header("webhook-id")).Distinct().Count());
        Assert.Equal(NoisyWorkspaceApp.PerWorkspace, HangingRequests()); // its workspace cap, all still hanging
        int attempted = await app.QuerySingleAsync<int>(
            "SELECT count(*) FROM webhooks.deliveries WHERE workspace_id = @noisy AND attempt_count > 0", new { noisy });
        Assert.Equal(0, attempted);

        int HangingRequests() => hanging.Sum(endpoint => _hanging.RequestsTo(endpoint.Url).Count);
    }
}

/// <summary>Claims made directly, on deliveries due a year from now: the running sender leaves those alone.</summary>
public sealed class NoisyWorkspaceClaimTests(NoisyWorkspaceApp app) : IClassFixture<NoisyWorkspaceApp>
{
    [Fact]
    public async Task A_claim_takes_each_workspaces_oldest_due_delivery_before_any_workspaces_second_and_counts_leases_against_the_workspace()
    {
        var due = DateTimeOffset.UtcNow.AddYears(1);
        string noisy = WebhooksApp.NewWorkspace(), quiet = WebhooksApp.NewWorkspace(), other = WebhooksApp.NewWorkspace();
        CreatedEndpoint[] noisyEndpoints = [await CreateEndpointAsync(noisy), await CreateEndpointAsync(noisy)];
        // The noisy workspace's backlog, over two endpoints, is older than anything else due.
        var backlog = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            backlog.Add(await InsertDeliveryAsync(noisy, noisyEndpoints[i % 2].Id, due.AddSeconds(i)));
        }

        string quietDelivery = await InsertDeliveryAsync(quiet, (await CreateEndpointAsync(quiet)).Id, due.AddSeconds(10));
        string otherDelivery = await InsertDeliveryAsync(other, (await CreateEndpointAsync(other)).Id, due.AddSeconds(20));
        var store = app.Factory.Services.GetRequiredService<DeliveryStore>();
        var (now, leaseUntil) = (due.AddMinutes(1), due.AddHours(1));

        var first = await store.ClaimAsync(3, new EndpointLimits(4, [], []), 16, now, leaseUntil, CancellationToken.None);
        Assert.Equal(new[] { backlog[0], quietDelivery, otherDelivery }.Order(), first.Deliveries.Select(d => d.Id).Order());
        Assert.True(first.DueUnclaimed);

        // The first claim's lease counts, as another replica's would: two more make the workspace's three.
        var second = await store.ClaimAsync(8, new EndpointLimits(4, [], []), 3, now, leaseUntil, CancellationToken.None);
        Assert.Equal(new[] { backlog[1], backlog[2] }.Order(), second.Deliveries.Select(d => d.Id).Order());

        // Everything due is at its workspace's cap: nothing to take, but due deliveries were left.
        var third = await store.ClaimAsync(8, new EndpointLimits(4, [], []), 3, now, leaseUntil, CancellationToken.None);
        Assert.Empty(third.Deliveries);
        Assert.True(third.DueUnclaimed);
    }

    private Task<CreatedEndpoint> CreateEndpointAsync(string workspace) => app.CreateEndpointAsync(workspace, "http://127.0.0.1:9/hooks", "*");

    private async Task<string> InsertDeliveryAsync(string workspace, string endpointId, DateTimeOffset due)
    {
        string deliveryId = Ids.New("dlv");
        await app.QuerySingleAsync<int>("""
            WITH event AS (
                INSERT INTO webhooks.events (id, workspace_id, type, occurred_at, body, received_at)
                VALUES (@eventId, @workspace, 'post.cancelled', now(), '{}', now())
                RETURNING id)
            INSERT INTO webhooks.deliveries (id, event_id, endpoint_id, workspace_id, status, next_attempt_at, created_at, updated_at)
            SELECT @deliveryId, id, @endpointId, @workspace, 'pending', @due, now(), now() FROM event
            RETURNING 1
            """, new { eventId = Ids.New("evt"), deliveryId, workspace, endpointId, due });
        return deliveryId;
    }
}
