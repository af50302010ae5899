using Microsoft.Extensions.DependencyInjection;
using ScheduledPosts.Testing;
using ScheduledPosts.Webhooks.Deliveries;
using ScheduledPosts.Webhooks.Signing;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>
/// The shipped concurrency settings (an endpoint starts at 4 in flight, may reach 16; a 2xx slower than 1 s is slow),
/// and retries every half second, so a failing endpoint keeps being tried while the test watches it.
/// </summary>
public sealed class AdaptiveConcurrencyApp : WebhooksApp
{
    public const int Initial = 4;
    public const int Ceiling = 16;
    public static readonly TimeSpan Quick = TimeSpan.FromMilliseconds(150);
    public static readonly TimeSpan Slow = TimeSpan.FromMilliseconds(1500);

    protected override IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>(
        Enumerable.Range(0, 20).Select(i => KeyValuePair.Create($"Webhooks:RetrySchedule:{i}", "00:00:00.5")))
    {
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowLoopback"] = "true",
    };
}

public sealed class AdaptiveConcurrencyTests(AdaptiveConcurrencyApp app) : IClassFixture<AdaptiveConcurrencyApp>, IAsyncLifetime
{
    private Receiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await Receiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task A_quick_endpoint_is_sent_more_than_four_at_once_over_kept_alive_connections_and_a_slow_one_never_more_than_four()
    {
        const int quickEvents = 300, slowEvents = 16;
        string quickWorkspace = WebhooksApp.NewWorkspace(), slowWorkspace = WebhooksApp.NewWorkspace();
        var quick = await app.CreateEndpointAsync(quickWorkspace, _receiver.NewSlowUrl(AdaptiveConcurrencyApp.Quick), "*");
        var slow = await app.CreateEndpointAsync(slowWorkspace, _receiver.NewSlowUrl(AdaptiveConcurrencyApp.Slow), "*");

        await Task.WhenAll(Enumerable.Range(0, slowEvents).Select(_ => app.PublishAsync(TestApi.NewEvent(slowWorkspace)))
            .Concat(Enumerable.Range(0, quickEvents).Select(_ => app.PublishAsync(TestApi.NewEvent(quickWorkspace)))));

        var toQuick = await _receiver.WaitForRequestsAsync(quick.Url, quickEvents, "the quick endpoint's webhooks", TimeSpan.FromSeconds(90));
        var toSlow = await _receiver.WaitForRequestsAsync(slow.Url, slowEvents, "the slow endpoint's webhooks", TimeSpan.FromSeconds(90));
        Assert.Equal(quickEvents, toQuick.Select(r => r.Header("webhook-id")).Distinct().Count());
        Assert.Equal(slowEvents, toSlow.Select(r => r.Header("webhook-id")).Distinct().Count());
        Assert.InRange(_receiver.MaxConcurrent(quick.Url), AdaptiveConcurrencyApp.Initial + 1, AdaptiveConcurrencyApp.Ceiling);
        Assert.InRange(_receiver.MaxConcurrent(slow.Url), 1, AdaptiveConcurrencyApp.Initial);
        // Not a connection per webhook: the pool's, each reused (a few more than the most in flight, as the pool grows).
        Assert.InRange(toQuick.Select(r => r.ConnectionId).Distinct().Count(), 1, 2 * AdaptiveConcurrencyApp.Ceiling);
    }

    [Fact]
    public async Task An_endpoint_that_starts_failing_is_sent_one_request_at_a_time_and_more_again_once_it_recovers()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewSlowUrl(AdaptiveConcurrencyApp.Quick), "*");
        await PublishAsync(workspace, 150);
        await Eventually.Until(() => Task.FromResult(_receiver.MaxConcurrent(endpoint.Url)), n => n > AdaptiveConcurrencyApp.Initial,
            TestApi.Patience, "more than four requests at once while it answers quickly");

        // Failing answers that take a while, so that requests would overlap if more than one were sent at a time.
        _receiver.Answer(endpoint.Url, 503, AdaptiveConcurrencyApp.Quick);
        await PublishAsync(workspace, 100);
        // Lowered once per round of failures (those in flight together count once): 16 → 8 → 4 → 2 → 1 at most.
        await Eventually.Until(() => LimitAsync(endpoint.Id), n => n == 1, TestApi.Patience, "the endpoint's limit down to one");
        // Requests sent before the last lowering may still be open; none is sent beside them.
        await Eventually.Until(() => Task.FromResult(_receiver.OpenRequests(endpoint.Url)), n => n <= 1, TestApi.Patience, "the earlier requests answered");
        _receiver.ResetMaxConcurrent(endpoint.Url);
        int before = _receiver.RequestsTo(endpoint.Url).Count;
        await _receiver.WaitForRequestsAsync(endpoint.Url, before + 10, "ten more attempts while it fails");
        Assert.Equal(1, _receiver.MaxConcurrent(endpoint.Url));

        _receiver.Answer(endpoint.Url, 200, AdaptiveConcurrencyApp.Quick);
        await PublishAsync(workspace, 150);
        await Eventually.Until(() => Task.FromResult(_receiver.MaxConcurrent(endpoint.Url)), n => n > 1,
            TestApi.Patience, "more than one request at once after it recovered");
    }

    [Fact]
    public async Task Answers_raise_the_limit_by_one_up_to_the_ceiling_and_each_overload_halves_it_once()
    {
        string workspace = WebhooksApp.NewWorkspace();
        // No deliveries: only these recorded answers change its limit.
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "post.published");
        var store = app.Factory.Services.GetRequiredService<DeliveryStore>();
        var caps = new ConcurrencyCaps(PerEndpoint: 6, InitialPerEndpoint: AdaptiveConcurrencyApp.Initial, PerWorkspace: 16);
        var t0 = DateTimeOffset.UtcNow;
        var raise = new LimitChange(true, null);
        var failed = new LimitChange(false, 1);
        var slow = new LimitChange(false, caps.InitialPerEndpoint);

        Assert.Equal(5, await RecordAsync(raise, t0, t0));
        Assert.Equal(6, await RecordAsync(raise, t0, t0));
        Assert.Null(await RecordAsync(raise, t0, t0));                                  // the ceiling
        Assert.Equal(4, await RecordAsync(slow, t0, At(1)));                           // halved, but slow answers go no lower than the start
        Assert.Null(await RecordAsync(slow, At(2), At(2)));
        Assert.Equal(2, await RecordAsync(failed, At(2), At(3)));                      // failures halve it further
        Assert.Null(await RecordAsync(failed, At(2), At(4)));                          // begun before that lowering: the same overload
        Assert.Null(await RecordAsync(raise, At(2), At(4)));                           // ... nor does a quick answer begun then count
        Assert.Equal(1, await RecordAsync(failed, At(5), At(5)));
        Assert.Null(await RecordAsync(failed, At(6), At(6)));                          // never below one
        Assert.Equal(2, await RecordAsync(raise, At(7), At(7)));
        Assert.Equal(2, await LimitAsync(endpoint.Id));

        DateTimeOffset At(int seconds) => t0.AddSeconds(seconds);

        async Task<int?> RecordAsync(LimitChange change, DateTimeOffset attemptedAt, DateTimeOffset now)
        {
            bool succeeded = change != failed;
            var delivery = new ClaimedDelivery("dlv_none", Guid.NewGuid(), "evt_none", 0, 0, "{}", endpoint.Id, endpoint.Url,
                new EndpointSecrets("", null, null), true, 0);
            var attempt = new DeliveryAttempt(1, attemptedAt, succeeded ? 200 : 503, 10, null);
            var decision = new DeliveryDecision(succeeded ? DeliveryStatus.Delivered : DeliveryStatus.Pending, null);
            return (await store.RecordAttemptAsync(delivery, attempt, decision, change, caps, now, null)).NewLimit;
        }
    }

    private Task PublishAsync(string workspace, int events)
        => Task.WhenAll(Enumerable.Range(0, events).Select(_ => app.PublishAsync(TestApi.NewEvent(workspace))));

    private Task<int> LimitAsync(string endpointId)
        => app.QuerySingleAsync<int>("SELECT coalesce(concurrency_limit, @Initial) FROM webhooks.endpoints WHERE id = @endpointId",
            new { endpointId, AdaptiveConcurrencyApp.Initial });
}
