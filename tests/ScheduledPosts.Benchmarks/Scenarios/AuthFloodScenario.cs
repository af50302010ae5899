using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using ScheduledPosts.Benchmarks.Reporting;
using ScheduledPosts.Benchmarks.Stack;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Benchmarks.Scenarios;

/// <summary>
/// Scenario 5 (issue 14): what a flood of made-up API keys costs a caller with a valid one. A valid key reads one post
/// through the gateway, one request at a time: first alone (the unloaded figure), then while 10,000 requests with random,
/// well-formed keys arrive from 256 client addresses (127.77.x.y, each its own connections) at 1,000 per second, at
/// most 64 at once. The flood is paced because its generator shares this machine's cores with the suite: sent as fast
/// as it can go, it would measure the two cores it takes from the gateway, not what the gateway does with bad keys.
/// Target: the valid key's p99 stays within 2× of its unloaded p99. Every flood request must be refused, 401 or 429.
/// </summary>
public static class AuthFloodScenario
{
    public const string Name = "auth-flood";

    private const int FloodRequests = 10_000;
    private const int FloodAddresses = 256;
    private const int FloodConcurrency = 64;
    private const double FloodPerSecond = 1_000;
    private const int UnloadedSample = 1_000;

    public static async Task RunAsync(Report report, StackSource stacks)
    {
        await using var lease = await stacks.GetAsync(Name);
        var stack = lease.Stack;
        string account = await stack.ConnectSandboxAccountAsync("auth-flood");
        var post = await stack.CreatePostAsync("A post the valid key reads", [account], DateTimeOffset.UtcNow.AddDays(1));
        string path = $"/v1/posts/{post.GetProperty("id").GetString()}";
        using var valid = new HttpClient { BaseAddress = stack.Suite.GatewayUrl, Timeout = TimeSpan.FromSeconds(30) };
        valid.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Suite.BootstrapKey);

        await ReadAsync(valid, path, 200, () => false); // warm up: connections, the key cache, the proxy's routes
        var unloaded = await ReadAsync(valid, path, UnloadedSample, () => false);

        var flood = new Flood(stack.Suite.GatewayUrl);
        var flooding = flood.RunAsync();
        var loaded = await ReadAsync(valid, path, int.MaxValue, () => flooding.IsCompleted);
        await flooding;

        var unloadedDistribution = Distribution.Of(unloaded.Latencies);
        var loadedDistribution = Distribution.Of(loaded.Latencies);
        report.Rows.Add(new Row(Name, "valid key, alone", unloaded.Latencies.Count, unloadedDistribution,
            Report.PerSecond(unloaded.Latencies.Count / unloaded.Elapsed.TotalSeconds, "reqs")));
        report.Rows.Add(new Row(Name, $"valid key, during {FloodRequests:N0} bad keys from {FloodAddresses} addresses at {FloodPerSecond:N0}/s", loaded.Latencies.Count,
            loadedDistribution, Report.PerSecond(loaded.Latencies.Count / loaded.Elapsed.TotalSeconds, "reqs"),
            $"p99 ≤ 2 × alone ({Report.Ms(2 * unloadedDistribution?.P99)})", Report.AtMost(loadedDistribution?.P99, 2 * (unloadedDistribution?.P99 ?? 0))));
        report.Rows.Add(new Row(Name, $"bad keys ({flood.Unauthorized:N0} × 401, {flood.Throttled:N0} × 429 without a lookup)", flood.Latencies.Count,
            Distribution.Of(flood.Latencies), Report.PerSecond(flood.Latencies.Count / flood.Elapsed.TotalSeconds, "reqs"),
            "every one refused", flood.Unexpected == 0 ? Verdict.Met : Verdict.Missed));

        foreach (var (what, errors) in new[] { ("valid key alone", unloaded.Errors), ("valid key during the flood", loaded.Errors), ("flood", flood.Errors) })
        {
            if (errors.Count > 0)
            {
                report.Errors.Add($"{Name} ({what}): {errors.Count} unexpected answers; first: {string.Join(" | ", errors.Take(3))}");
            }
        }
    }

    private sealed record Reads(List<double> Latencies, TimeSpan Elapsed, List<string> Errors);

    /// <summary>Reads the post one request at a time, <paramref name="count"/> times or until <paramref name="stop"/>.</summary>
    private static async Task<Reads> ReadAsync(HttpClient client, string path, int count, Func<bool> stop)
    {
        var latencies = new List<double>();
        var errors = new List<string>();
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count && !stop(); i++)
        {
            long started = Stopwatch.GetTimestamp();
            using var response = await client.GetAsync(path);
            await response.Content.LoadIntoBufferAsync();
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                errors.Add($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
        }

        return new Reads(latencies, watch.Elapsed, errors);
    }

    /// <summary>The bad keys: each address with its own client, whose sockets are bound to that address before connecting.</summary>
    private sealed class Flood(Uri gateway)
    {
        private int _unauthorized;
        private int _throttled;

        public List<double> Latencies { get; } = [];
        public List<string> Errors { get; } = [];
        public TimeSpan Elapsed { get; private set; }
        public int Unauthorized => _unauthorized;
        public int Throttled => _throttled;
        public int Unexpected => Errors.Count;

        public async Task RunAsync()
        {
            var clients = Enumerable.Range(0, FloodAddresses)
                .Select(i => ClientFrom(IPAddress.Parse($"127.77.{i / 250}.{i % 250 + 1}")))
                .ToArray();
            int next = -1;
            var watch = Stopwatch.StartNew();
            try
            {
                await Task.WhenAll(Enumerable.Range(0, FloodConcurrency).Select(_ => Task.Run(async () =>
                {
                    for (int i = Interlocked.Increment(ref next); i < FloodRequests; i = Interlocked.Increment(ref next))
                    {
                        // Open loop: request i leaves at its own moment, however long the earlier ones took.
                        var due = TimeSpan.FromSeconds(i / FloodPerSecond) - watch.Elapsed;
                        if (due > TimeSpan.Zero)
                        {
                            await Task.Delay(due);
                        }

                        await SendAsync(clients[i % FloodAddresses]);
                    }
                })));
            }
            finally
            {
                Elapsed = watch.Elapsed;
                foreach (var client in clients)
                {
                    client.Dispose();
                }
            }
        }

        private async Task SendAsync(HttpClient client)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/posts");
            // Shaped like a real key (sp_ and 32 random bytes in base64url), so nothing but a lookup can tell it is made up.
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sp_" + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32)));
            long started = Stopwatch.GetTimestamp();
            string? error = null;
            try
            {
                using var response = await client.SendAsync(request);
                await response.Content.LoadIntoBufferAsync();
                switch (response.StatusCode)
                {
                    case HttpStatusCode.Unauthorized:
                        Interlocked.Increment(ref _unauthorized);
                        break;
                    case HttpStatusCode.TooManyRequests:
                        Interlocked.Increment(ref _throttled);
                        break;
                    default:
                        error = $"{(int)response.StatusCode}";
                        break;
                }
            }
            catch (HttpRequestException e)
            {
                error = e.Message;
            }

            double elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            lock (Latencies)
            {
                Latencies.Add(elapsed);
                if (error is not null)
                {
                    Errors.Add(error);
                }
            }
        }

        private HttpClient ClientFrom(IPAddress local) => new(new SocketsHttpHandler
        {
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(local, 0));
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, context.DnsEndPoint.Port), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        })
        {
            BaseAddress = gateway,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }
}
