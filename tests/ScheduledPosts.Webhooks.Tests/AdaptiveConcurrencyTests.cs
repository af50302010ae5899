using ScheduledPosts.Testing;
using ScheduledPosts.Webhooks.Deliveries;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>Each endpoint starts at two deliveries in flight and may earn up to eight; an answer after 250 ms is slow.</summary>
public sealed class AdaptiveConcurrencyApp : WebhooksApp
{
    public const int Initial = 2, Max = 8;
    public static readonly TimeSpan SlowAnswerAfter = TimeSpan.FromMilliseconds(250);

    protected override IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>
    {
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowLoopback"] = "true",
        ["Webhooks:MaxConcurrentDeliveries"] = "32",
        ["Webhooks:InitialConcurrentPerEndpoint"] = Initial.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Webhooks:MaxConcurrentPerEndpoint"] = Max.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Webhooks:SlowAnswerAfter"] = SlowAnswerAfter.ToString(),
    };
}

/// <summary>How many deliveries an endpoint gets at once follows how it answers: more while it keeps up, fewer when it does not.</summary>
public sealed class AdaptiveConcurrencyTests(AdaptiveConcurrencyApp app) : IClassFixture<AdaptiveConcurrencyApp>, IAsyncLifetime
{
    private Receiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await Receiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task An_endpoint_that_keeps_up_is_sent_more_at_once_than_it_started_with_never_above_the_ceiling()
    {
        const int events = 120;
        string workspace = WebhooksApp.NewWorkspace();
        // Answers in 20 ms: attempts overlap, and every answer is in good time.
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewSlowUrl(TimeSpan.FromMilliseconds(20)), "*");

        var published = Enumerable.Range(0, events).Select(_ => TestApi.NewEvent(workspace)).ToList();
        await Task.WhenAll(published.Select(app.PublishAsync));

        var received = await _receiver.WaitForRequestsAsync(endpoint.Url, events, $"{events} webhooks");
        Assert.Equal(published.Select(e => e.EventId).Order(), received.Select(r => r.Header("webhook-id")).Order());
        // From 2 in flight, 2 good answers earn a third, 3 more a fourth: far fewer than the backlog.
        Assert.InRange(_receiver.MaxConcurrent(endpoint.Url), AdaptiveConcurrencyApp.Initial + 2, AdaptiveConcurrencyApp.Max);
    }

    [Fact]
    public async Task An_endpoint_that_answers_slowly_is_sent_one_delivery_at_a_time_and_still_gets_each_once()
    {
        const int events = 8;
        string workspace = WebhooksApp.NewWorkspace();
        // Every answer a 200, each after more than the slow-answer bound.
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewSlowUrl(AdaptiveConcurrencyApp.SlowAnswerAfter * 2), "*");

        var published = Enumerable.Range(0, events).Select(_ => TestApi.NewEvent(workspace)).ToList();
        await Task.WhenAll(published.Select(app.PublishAsync));

        var received = await _receiver.WaitForRequestsAsync(endpoint.Url, events, $"{events} webhooks");
        Assert.Equal(published.Select(e => e.EventId).Order(), received.Select(r => r.Header("webhook-id")).Order());
        // The first two went out together (the start value); the first slow answer halved the limit to one, and every
        // later delivery waited until nothing else was open at the endpoint.
        Assert.Equal(AdaptiveConcurrencyApp.Initial, _receiver.MaxConcurrent(endpoint.Url));
        Assert.All(received.Skip(AdaptiveConcurrencyApp.Initial), r => Assert.Equal(1, r.OpenOnArrival));

        // The last answer recorded too: each delivered with its one attempt.
        var deliveries = await Eventually.Until(
            () => app.QueryAsync<(string Status, int AttemptCount)>(
                "SELECT status, attempt_count FROM webhooks.deliveries WHERE endpoint_id = @Id", new { endpoint.Id }),
            d => d.All(x => x.Status != "pending"), TestApi.Patience, "every delivery recorded");
        Assert.Equal(events, deliveries.Count);
        Assert.All(deliveries, d => Assert.Equal(("delivered", 1), d));
    }
}

/// <summary>The rules by which an endpoint's limit moves, answer by answer.</summary>
public sealed class EndpointConcurrencyTests
{
    private const string Endpoint = "wh_test";
    private static readonly TimeSpan Fast = TimeSpan.FromMilliseconds(5);

    [Fact]
    public void A_window_of_good_answers_with_the_whole_limit_in_use_earns_one_more_up_to_the_ceiling()
    {
        var limits = new EndpointConcurrency(initial: 2, max: 4, slowAfter: TimeSpan.FromSeconds(1));
        int[] seen = [.. Enumerable.Range(0, 6).Select(_ => RoundTrip(limits, inFlight: limits.LimitOf(Endpoint)))];

        // 2 → 3 after a window of 2, 3 → 4 after one of 3, then it stays at the ceiling.
        Assert.Equal([3, 4, 4, 4, 4, 4], seen);
        Assert.Equal(new EndpointLimits(2, [Endpoint], [4]), limits.Limits(), EndpointLimitsComparer.Instance);
    }

    [Fact]
    public void Good_answers_that_never_used_the_whole_limit_earn_nothing()
    {
        var limits = new EndpointConcurrency(initial: 4, max: 16, slowAfter: TimeSpan.FromSeconds(1));
        for (int i = 0; i < 20; i++)
        {
            var mark = limits.Started(Endpoint); // one at a time
            Assert.Equal(LimitChange.Same, limits.Answered(Endpoint, mark, limits.IsStruggling(200, Fast)));
        }

        Assert.Equal(4, limits.LimitOf(Endpoint));
        Assert.Empty(limits.Limits().EndpointIds);
    }

    [Fact]
    public void A_struggling_moment_halves_the_limit_once_for_the_attempts_that_were_under_way_together()
    {
        var limits = new EndpointConcurrency(initial: 8, max: 16, slowAfter: TimeSpan.FromSeconds(1));
        var together = Enumerable.Range(0, 8).Select(_ => limits.Started(Endpoint)).ToList();

        var changes = together.Select(mark => limits.Answered(Endpoint, mark, limits.IsStruggling(503, Fast))).ToList();

        Assert.Equal([LimitChange.Shrank, .. Enumerable.Repeat(LimitChange.Same, 7)], changes);
        Assert.Equal(4, limits.LimitOf(Endpoint));

        // An attempt started after the decrease that also fails halves it again, down to one and no further.
        foreach (int expected in new[] { 2, 1, 1 })
        {
            var mark = limits.Started(Endpoint);
            limits.Answered(Endpoint, mark, limits.IsStruggling(null, Fast));
            Assert.Equal(expected, limits.LimitOf(Endpoint));
        }
    }

    [Theory]
    [InlineData(200, 10, false)]
    [InlineData(204, 999, false)]
    [InlineData(404, 10, false)]   // the receiver's verdict on the webhook, not on its load
    [InlineData(410, 10, false)]
    [InlineData(429, 10, true)]
    [InlineData(500, 10, true)]
    [InlineData(503, 10, true)]
    [InlineData(null, 10, true)]   // no answer: a timeout or a failed connection
    [InlineData(200, 1001, true)]  // in time, but slow
    public void What_says_an_endpoint_is_struggling(int? statusCode, int latencyMs, bool struggling)
    {
        var limits = new EndpointConcurrency(initial: 4, max: 16, slowAfter: TimeSpan.FromSeconds(1));
        Assert.Equal(struggling, limits.IsStruggling(statusCode, TimeSpan.FromMilliseconds(latencyMs)));
    }

    /// <summary><paramref name="inFlight"/> attempts start together and all answer well; the limit after them.</summary>
    private static int RoundTrip(EndpointConcurrency limits, int inFlight)
    {
        var marks = Enumerable.Range(0, inFlight).Select(_ => limits.Started(Endpoint)).ToList();
        foreach (var mark in marks)
        {
            limits.Answered(Endpoint, mark, limits.IsStruggling(200, Fast));
        }

        return limits.LimitOf(Endpoint);
    }

    private sealed class EndpointLimitsComparer : IEqualityComparer<EndpointLimits>
    {
        public static readonly EndpointLimitsComparer Instance = new();

        public bool Equals(EndpointLimits? x, EndpointLimits? y) =>
            x!.Otherwise == y!.Otherwise && x.EndpointIds.SequenceEqual(y.EndpointIds) && x.Limits.SequenceEqual(y.Limits);

        public int GetHashCode(EndpointLimits obj) => obj.Otherwise;
    }
}
