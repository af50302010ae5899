using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Npgsql;
using ScheduledPosts.Benchmarks.Reporting;
using ScheduledPosts.Benchmarks.Stack;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Benchmarks.Scenarios;

/// <summary>
/// Scenario 4: the webhooks service's fan-out and delivery. Endpoints are created through the gateway and point at a
/// receiver in this process that answers 204 at once (one endpoint after 50 ms, as a real subscriber might). Events are <see cref="PostEvent"/> messages published straight
/// onto the suite's bus with publisher confirms — exactly what the scheduling service's dispatcher sends once an event's
/// transaction committed — so the figures are the webhooks service's own, not the API's. They are offered at a steady
/// rate (the target's 1,000 deliveries/s): latency = the receiver's arrival time − the moment the event was published
/// (its committed state change leaving the outbox); throughput = deliveries / (last arrival − first publish).
/// </summary>
public static class WebhooksScenario
{
    public const string Name = "webhooks";

    public static async Task RunAsync(Sizes sizes, Report report, StackSource stacks)
    {
        await using var lease = await stacks.GetAsync(Name);
        var stack = lease.Stack;
        await using var receiver = await Receiver.StartAsync();
        string account = await stack.ConnectSandboxAccountAsync("webhooks");
        // A real post, so every webhook carries a realistically sized body.
        var post = await stack.CreatePostAsync("A post whose events the webhooks scenario fans out", [account], DateTimeOffset.UtcNow.AddDays(1));
        var busControl = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(stack.Bus.Host, stack.Bus.Port, stack.Bus.VirtualHost, h =>
        {
            h.Username(stack.Bus.Username);
            h.Password(stack.Bus.Password);
            h.PublisherConfirmation = true;
        }));
        await busControl.StartAsync();
        try
        {
            // Single endpoint: every event to one fast receiver.
            await CreateEndpointAsync(stack, receiver.UrlFor(0), "post.cancelled");
            await WarmUpAsync(busControl, post, receiver, "post.cancelled", [0]);
            int events = sizes.WebhookEvents;
            var single = await MeasureAsync(busControl, post, receiver, "post.cancelled", [0], events, sizes.WebhookOfferedPerSecond, sizes.Patience);
            AddRow(report, $"1 endpoint: event → 2xx ({events:N0} events offered at {sizes.WebhookOfferedPerSecond:N0}/s)", single);

            // One endpoint that takes 50 ms to answer: what its deliveries in flight, learned from its answers, allow.
            await CreateEndpointAsync(stack, receiver.UrlFor(Receiver.SlowEndpoint), "post.deleted");
            await WarmUpAsync(busControl, post, receiver, "post.deleted", [Receiver.SlowEndpoint]);
            var slow = await MeasureAsync(busControl, post, receiver, "post.deleted", [Receiver.SlowEndpoint], sizes.SlowEndpointEvents,
                sizes.WebhookOfferedPerSecond, sizes.Patience);
            AddRow(report, $"1 endpoint answering in {Receiver.SlowAnswer.TotalMilliseconds:0} ms: event → 2xx ({sizes.SlowEndpointEvents:N0} events offered at {sizes.WebhookOfferedPerSecond:N0}/s)",
                slow, target: $"> {4 / Receiver.SlowAnswer.TotalSeconds:0}/s (what 4 in flight allow)", verdict: Report.AtLeast(slow.DeliveriesPerSecond, 4 / Receiver.SlowAnswer.TotalSeconds + 1));

            // Fan-out: one event type to many endpoints, the same deliveries per second offered.
            int[] fanOut = [.. Enumerable.Range(1, sizes.FanOutEndpoints)];
            foreach (int endpoint in fanOut)
            {
                await CreateEndpointAsync(stack, receiver.UrlFor(endpoint), "post.rescheduled");
            }

            await WarmUpAsync(busControl, post, receiver, "post.rescheduled", fanOut);
            double eventsPerSecond = sizes.WebhookOfferedPerSecond / sizes.FanOutEndpoints;
            var spread = await MeasureAsync(busControl, post, receiver, "post.rescheduled", fanOut, sizes.FanOutEvents, eventsPerSecond, sizes.Patience);
            AddRow(report, $"fan-out: 1 event type → {sizes.FanOutEndpoints} endpoints ({sizes.FanOutEvents:N0} events offered at {eventsPerSecond:0.#}/s)", spread);

            foreach (var (what, run) in new[] { ("1 endpoint", single), ("1 slow endpoint", slow), ("fan-out", spread) })
            {
                if (run.Missing > 0)
                {
                    report.Errors.Add($"{Name} ({what}): {run.Missing} deliveries never arrived within the patience");
                }

                if (run.Duplicates > 0)
                {
                    report.Notes.Add($"{Name} ({what}): {run.Duplicates} deliveries arrived twice (at-least-once; receivers dedupe on webhook-id)");
                }
            }

            await using var connection = new NpgsqlConnection(stack.Postgres);
            int failedAttempts = await connection.ExecuteScalarAsync<int>(
                "SELECT count(*)::int FROM webhooks.delivery_attempts WHERE status_code IS NULL OR status_code NOT BETWEEN 200 AND 299");
            if (failedAttempts > 0)
            {
                report.Errors.Add($"{Name}: {failedAttempts} delivery attempts did not get a 2xx from the local receiver");
            }
        }
        finally
        {
            await busControl.StopAsync();
        }
    }

    private static void AddRow(Report report, string measure, Run run, string? target = null, Verdict? verdict = null)
    {
        var latency = Distribution.Of(run.LatenciesMs);
        report.Rows.Add(new Row(Name, measure, latency?.Count ?? 0, latency, Report.PerSecond(run.DeliveriesPerSecond, "deliveries"),
            target ?? "≥ 1,000/s, p95 ≤ 100 ms",
            verdict ?? Report.Both(Report.AtLeast(run.DeliveriesPerSecond, 1000), Report.AtMost(latency?.P95, 100))));
    }

    private static async Task CreateEndpointAsync(BenchStack stack, Uri url, string eventType)
    {
        using var response = await stack.Gateway.PostAsJsonAsync("/v1/webhook-endpoints", new { url = url.ToString(), events = new[] { eventType } });
        await BenchStack.ReadAsync(response, HttpStatusCode.Created);
    }

    private sealed record Run(List<double> LatenciesMs, double? DeliveriesPerSecond, int Missing, int Duplicates);

    /// <summary>A few events first, unmeasured, so the consumer, sender and HTTP connections are warm.</summary>
    private static async Task WarmUpAsync(IBus bus, JsonElement post, Receiver receiver, string type, int[] endpoints)
        => await MeasureAsync(bus, post, receiver, type, endpoints, 5, 50, TimeSpan.FromSeconds(30));

    private static async Task<Run> MeasureAsync(IBus bus, JsonElement post, Receiver receiver, string type, int[] endpoints,
        int events, double perSecond, TimeSpan patience)
    {
        string batch = Guid.NewGuid().ToString("N")[..8];
        var published = new ConcurrentDictionary<string, DateTimeOffset>();
        var pacing = Stopwatch.StartNew();
        var confirms = new List<Task>(events);
        for (int i = 0; i < events; i++)
        {
            var wait = TimeSpan.FromSeconds(i / perSecond) - pacing.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait);
            }

            string eventId = $"evt_bench{batch}{i:D6}";
            var occurredAt = DateTimeOffset.UtcNow;
            published[eventId] = occurredAt;
            confirms.Add(Publish(bus, type, eventId, occurredAt, post));
        }

        await Task.WhenAll(confirms);
        int expected = events * endpoints.Length;
        var deadline = DateTime.UtcNow + patience;
        while (receiver.Count(published.Keys, endpoints) < expected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var arrivals = receiver.Arrivals(published.Keys, endpoints);
        var latencies = arrivals.Select(a => (a.At - published[a.EventId]).TotalMilliseconds).ToList();
        int distinct = arrivals.Select(a => (a.Endpoint, a.EventId)).Distinct().Count();
        double? perSecondDelivered = arrivals.Count > 0
            ? distinct / Math.Max(0.001, (arrivals.Max(a => a.At) - published.Values.Min()).TotalSeconds)
            : null;
        return new Run(latencies, perSecondDelivered, expected - distinct, arrivals.Count - distinct);
    }

    private static Task Publish(IBus bus, string type, string eventId, DateTimeOffset occurredAt, JsonElement post)
    {
        string workspaceId = post.GetProperty("workspaceId").GetString()!;
        string postId = post.GetProperty("id").GetString()!;
        return type switch
        {
            "post.cancelled" => bus.Publish(new PostCancelled
            {
                EventId = eventId, Type = type, WorkspaceId = workspaceId, PostId = postId, ScheduleVersion = 1, OccurredAt = occurredAt, Data = post,
            }),
            "post.deleted" => bus.Publish(new PostDeleted
            {
                EventId = eventId, Type = type, WorkspaceId = workspaceId, PostId = postId, ScheduleVersion = 1, OccurredAt = occurredAt, Data = post,
            }),
            _ => bus.Publish(new PostRescheduled
            {
                EventId = eventId, Type = type, WorkspaceId = workspaceId, PostId = postId, ScheduleVersion = 1, OccurredAt = occurredAt, Data = post,
            }),
        };
    }

    /// <summary>
    /// A subscriber on loopback: notes when each webhook arrived at which endpoint, answers 204 — at once, or after
    /// <see cref="SlowAnswer"/> at <see cref="SlowEndpoint"/>.
    /// </summary>
    private sealed class Receiver : IAsyncDisposable
    {
        public const int SlowEndpoint = 1_000_000;
        public static readonly TimeSpan SlowAnswer = TimeSpan.FromMilliseconds(50);

        public sealed record Arrival(int Endpoint, string EventId, DateTimeOffset At);

        private readonly WebApplication _app;
        private readonly ConcurrentQueue<Arrival> _arrivals = new();
        private readonly Uri _base;

        private Receiver(WebApplication app, Uri baseUrl)
        {
            _app = app;
            _base = baseUrl;
        }

        public static async Task<Receiver> StartAsync()
        {
            Receiver? receiver = null;
            var (app, baseUrl) = await LoopbackHost.StartAsync(host => host.MapPost("/hook/{endpoint:int}", async (int endpoint, HttpRequest request) =>
            {
                receiver!._arrivals.Enqueue(new Arrival(endpoint, request.Headers["webhook-id"].ToString(), DateTimeOffset.UtcNow));
                if (endpoint == SlowEndpoint)
                {
                    await Task.Delay(SlowAnswer);
                }

                return Results.NoContent();
            }));
            receiver = new Receiver(app, baseUrl);
            return receiver;
        }

        public Uri UrlFor(int endpoint) => new(_base, $"/hook/{endpoint}");

        public int Count(ICollection<string> eventIds, int[] endpoints)
            => Arrivals(eventIds, endpoints).Select(a => (a.Endpoint, a.EventId)).Distinct().Count();

        public List<Arrival> Arrivals(ICollection<string> eventIds, int[] endpoints)
        {
            var ids = eventIds as IReadOnlySet<string> ?? eventIds.ToHashSet();
            var wanted = endpoints.ToHashSet();
            return [.. _arrivals.Where(a => wanted.Contains(a.Endpoint) && ids.Contains(a.EventId))];
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
