using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using ScheduledPosts.Benchmarks.Reporting;
using ScheduledPosts.Benchmarks.Stack;

namespace ScheduledPosts.Benchmarks.Scenarios;

/// <summary>
/// Scenario 3: closed-loop clients through the gateway (API key auth, YARP, the scheduling service, PostgreSQL). Phase
/// one, the mix: each client repeats create (scheduled a day ahead) → get → reschedule → cancel, so the four operations
/// run 1:1:1:1. Phase two: every client only creates, which is the issue's creates/s target. Any response other than
/// the documented success is an error. Latency is client-side, request sent → response body read.
/// </summary>
public static class ApiScenario
{
    public const string Name = "api";

    private static readonly string[] MixOperations = ["create", "get", "reschedule", "cancel"];

    public static async Task RunAsync(Sizes sizes, Report report, StackSource stacks)
    {
        await using var lease = await stacks.GetAsync(Name);
        var stack = lease.Stack;
        string account = await stack.ConnectSandboxAccountAsync("api");
        await stack.WarmUpAsync(account);
        // Let the warm-up's publishing settle; then a short unmeasured run of the same mix warms every route.
        await RunClientsAsync(stack, account, sizes.ApiClients, TimeSpan.FromSeconds(2), createOnly: false);

        var mix = await RunClientsAsync(stack, account, sizes.ApiClients, sizes.ApiDuration, createOnly: false);
        foreach (string operation in MixOperations)
        {
            var latencies = mix.Latencies[operation];
            report.Rows.Add(new Row(Name, $"mix, {operation} ({sizes.ApiClients} clients, {sizes.ApiDuration.TotalSeconds:0} s)", latencies.Count,
                Distribution.Of(latencies), Report.PerSecond(latencies.Count / mix.Elapsed.TotalSeconds, "ops")));
        }

        int mixTotal = mix.Latencies.Values.Sum(l => l.Count);
        report.Rows.Add(new Row(Name, "mix, all operations", mixTotal, Distribution.Of(mix.Latencies.Values.SelectMany(l => l)),
            Report.PerSecond(mixTotal / mix.Elapsed.TotalSeconds, "ops"), "no errors", mix.Errors == 0 ? Verdict.Met : Verdict.Missed));

        // CPU per create: every process of the stack, from the first create until the events the creates emitted were handled.
        await stack.WaitQuiescentAsync(sizes.Patience);
        await using var cpu = await CpuTime.Watch.StartAsync(stack);
        var creates = await RunClientsAsync(stack, account, sizes.ApiClients, sizes.ApiCreateOnlyDuration, createOnly: true);
        await stack.WaitQuiescentAsync(sizes.Patience);
        var cpuTo = await cpu.TakeAsync();
        var createLatencies = creates.Latencies["create"];
        report.Notes.Add("api, create only: " + CpuTime.Describe(cpu.From, cpuTo, createLatencies.Count, "create").Line);
        var createDistribution = Distribution.Of(createLatencies);
        double createsPerSecond = createLatencies.Count / creates.Elapsed.TotalSeconds;
        report.Rows.Add(new Row(Name, $"create only ({sizes.ApiClients} clients, {sizes.ApiCreateOnlyDuration.TotalSeconds:0} s)", createLatencies.Count,
            createDistribution, Report.PerSecond(createsPerSecond, "creates"), "≥ 1,500 creates/s, p99 ≤ 50 ms",
            Report.Both(Report.AtLeast(createsPerSecond, 1500), Report.AtMost(createDistribution?.P99, 50))));

        foreach (var (phase, run) in new[] { ("mix", mix), ("create only", creates) })
        {
            if (run.Errors > 0)
            {
                report.Errors.Add($"{Name} ({phase}): {run.Errors} failed requests; first: {string.Join(" | ", run.FirstErrors)}");
            }
        }
    }

    private sealed record ClientsRun(Dictionary<string, List<double>> Latencies, TimeSpan Elapsed, int Errors, List<string> FirstErrors);

    private static async Task<ClientsRun> RunClientsAsync(BenchStack stack, string account, int clients, TimeSpan duration, bool createOnly)
    {
        var errors = 0;
        var firstErrors = new List<string>();
        var perClient = new Dictionary<string, List<double>>[clients];
        var stopwatch = Stopwatch.StartNew();
        var until = stopwatch.Elapsed + duration;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var latencies = MixOperations.ToDictionary(o => o, _ => new List<double>());
            perClient[c] = latencies;
            var random = new Random(c);
            for (int i = 0; stopwatch.Elapsed < until; i++)
            {
                try
                {
                    var due = DateTimeOffset.UtcNow.AddDays(1).AddSeconds(random.Next(86_400));
                    string id = (await TimedAsync(latencies["create"], HttpStatusCode.Created,
                        () => stack.Gateway.PostAsJsonAsync("/v1/posts", BenchStack.PostBody($"api {c}-{i}", [account], due))))
                        .GetProperty("id").GetString()!;
                    if (createOnly)
                    {
                        continue;
                    }

                    await TimedAsync(latencies["get"], HttpStatusCode.OK, () => stack.Gateway.GetAsync($"/v1/posts/{id}"));
                    await TimedAsync(latencies["reschedule"], HttpStatusCode.OK, () => stack.Gateway.PostAsJsonAsync($"/v1/posts/{id}/reschedule",
                        new { scheduledFor = BenchStack.Timestamp(due.AddHours(1)) }));
                    await TimedAsync(latencies["cancel"], HttpStatusCode.OK, () => stack.Gateway.PostAsJsonAsync($"/v1/posts/{id}/cancel", new { reason = "benchmark" }));
                }
                catch (Exception e) when (e is InvalidOperationException or HttpRequestException or TaskCanceledException)
                {
                    Interlocked.Increment(ref errors);
                    lock (firstErrors)
                    {
                        if (firstErrors.Count < 3)
                        {
                            firstErrors.Add(e.Message.Length > 300 ? e.Message[..300] : e.Message);
                        }
                    }
                }
            }
        })));
        var elapsed = stopwatch.Elapsed;
        var merged = MixOperations.ToDictionary(o => o, o => perClient.SelectMany(l => l[o]).ToList());
        return new ClientsRun(merged, elapsed, errors, firstErrors);
    }

    private static async Task<System.Text.Json.JsonElement> TimedAsync(List<double> latencies, HttpStatusCode expected, Func<Task<HttpResponseMessage>> send)
    {
        long started = Stopwatch.GetTimestamp();
        using var response = await send();
        await response.Content.LoadIntoBufferAsync();
        latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return await BenchStack.ReadAsync(response, expected);
    }
}
