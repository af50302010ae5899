using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Npgsql;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Benchmarks.Stack;

/// <summary>The broker and virtual host the suite's services use, so the benchmark can publish onto the same bus.</summary>
public sealed record BusSettings(string Host, ushort Port, string VirtualHost, string Username, string Password);

/// <summary>One due target as the scheduling service recorded it: when it was due and when the publisher claimed it.</summary>
public sealed record ClaimRecord(string TargetId, DateTime ScheduledFor, DateTime? LastAttemptAt, int AttemptCount, string Status)
{
    public double? LagMs => LastAttemptAt is { } claimed ? (claimed - ScheduledFor).TotalMilliseconds : null;
}

public sealed record SandboxStatus(string Id, string Account, string Status, DateTimeOffset ReceivedAt);

/// <summary>
/// The real suite (<see cref="Suite"/>: the same service builds as <c>./run.sh</c>, as OS processes on a fresh database and
/// vhost), with what every scenario needs: an authenticated gateway client, sandbox accounts, bulk post creation, and
/// the scheduling schema to read the claim moments from. Only limits meant for real platforms and for abusive API
/// clients are lifted, because the benchmark's load is neither.
/// </summary>
public sealed class BenchStack : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The settings changed from the services' defaults, printed with the results.</summary>
    public const string ConfigurationNote =
        "The services run with their shipped settings except two limits the benchmark's own load would hit: the gateway's per-key rate limit " +
        "(RateLimits: 50 req/s, burst 500) and the publisher's token bucket for the sandbox platform (UploadLimits:Platforms:sandbox, 50/s), " +
        "which model abusive clients and a real platform's quota; both are raised to 1,000,000.";

    private Suite? _suite;
    private BusSettings? _bus;
    private string _scenario = "";

    /// <summary>Where each scenario's service logs are kept (warnings and errors), to explain a failed run.</summary>
    public static string LogDirectory { get; } = Path.Combine(Path.GetTempPath(), $"sp-bench-logs-{DateTime.UtcNow:yyyyMMdd-HHmmss}");

    public HttpClient Gateway { get; private set; } = null!;
    public HttpClient Sandbox { get; private set; } = null!;
    public Suite Suite => _suite!;
    public BusSettings Bus => _bus!;
    public string Postgres => _suite!.PostgresConnectionString;

    /// <summary>
    /// <c>--env KEY=VALUE</c>: set in every service's environment, to measure a runtime or configuration change
    /// (<c>DOTNET_gcServer=0</c>, <c>Dispatcher__BatchSize=500</c>) without touching the services.
    /// </summary>
    public static List<KeyValuePair<string, string>> ExtraEnvironment { get; } = [];

    public static async Task<BenchStack> StartAsync(string scenario)
    {
        var stack = new BenchStack { _scenario = scenario };
        stack._suite = await Suite.StartAsync((service, environment) =>
        {
            foreach (var (key, value) in ExtraEnvironment)
            {
                environment[key] = value;
            }

            switch (service)
            {
                case "gateway":
                    environment["RateLimits__RequestsPerSecond"] = "1000000";
                    environment["RateLimits__Burst"] = "1000000";
                    break;
                case "publisher":
                    environment["UploadLimits__Platforms__sandbox__TokenLimit"] = "1000000";
                    environment["UploadLimits__Platforms__sandbox__TokensPerPeriod"] = "1000000";
                    break;
                case "scheduling":
                    // The webhooks scenario publishes PostEvents in the scheduling service's place, so as its broker
                    // user: no other service's may (deploy/rabbitmq/permissions.tsv).
                    stack._bus = new BusSettings(environment["RabbitMq__Host"], ushort.Parse(environment["RabbitMq__Port"], CultureInfo.InvariantCulture),
                        environment["RabbitMq__VirtualHost"], environment["RabbitMq__Username"], environment["RabbitMq__Password"]);
                    break;
            }
        });
        stack.Gateway = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = stack._suite.GatewayUrl,
            Timeout = TimeSpan.FromSeconds(60),
        };
        stack.Gateway.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Suite.BootstrapKey);
        stack.Sandbox = new HttpClient { BaseAddress = stack._suite.SandboxUrl, Timeout = TimeSpan.FromSeconds(60) };
        Log.Step($"  suite started (database {new NpgsqlConnectionStringBuilder(stack.Postgres).Database})");
        return stack;
    }

    public async Task<string> ConnectSandboxAccountAsync(string handle)
    {
        using var response = await Gateway.PostAsJsonAsync("/v1/social-accounts", new { platform = "sandbox", handle });
        return (await ReadAsync(response, HttpStatusCode.Created)).GetProperty("id").GetString()!;
    }

    public static string Timestamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static object PostBody(string caption, IEnumerable<string> accounts, DateTimeOffset? scheduledFor) => new
    {
        caption,
        targets = accounts.Select(a => new { socialAccountId = a }).ToArray(),
        scheduledFor = scheduledFor is { } at ? Timestamp(at) : null,
    };

    /// <summary>Creates one post through the gateway; returns its JSON.</summary>
    public async Task<JsonElement> CreatePostAsync(string caption, IEnumerable<string> accounts, DateTimeOffset? scheduledFor)
    {
        using var response = await Gateway.PostAsJsonAsync("/v1/posts", PostBody(caption, accounts, scheduledFor));
        return await ReadAsync(response, HttpStatusCode.Created);
    }

    /// <summary>Creates posts concurrently; returns their ids in order. The time this takes is setup, not a measurement.</summary>
    public async Task<string[]> CreatePostsAsync(int count, Func<int, (string Caption, string[] Accounts, DateTimeOffset Due)> post, int concurrency = 32)
    {
        string[] ids = new string[count];
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (i, _) =>
        {
            var (caption, accounts, due) = post(i);
            ids[i] = (await CreatePostAsync(caption, accounts, due)).GetProperty("id").GetString()!;
        });
        return ids;
    }

    /// <summary>
    /// How many posts per second this machine creates right now, measured on posts due tomorrow (they stay pending, like
    /// the future posts of any real schedule). Scenarios use it to put their due times just after their setup ends.
    /// </summary>
    public async Task<double> MeasureCreateRateAsync(string account, int count)
    {
        var tomorrow = DateTimeOffset.UtcNow.AddDays(1);
        // Twice, keeping the faster: the first requests of each connection pay for connecting and JIT, and on a busy
        // machine one slow pass would push the due times needlessly far out.
        double best = 0;
        for (int pass = 0; pass < 2; pass++)
        {
            var started = Stopwatch.StartNew();
            await CreatePostsAsync(count, i => ($"calibration {i}", [account], tomorrow.AddSeconds(i)));
            best = Math.Max(best, count / started.Elapsed.TotalSeconds);
        }

        return best;
    }

    /// <summary>Publishes one post end to end, so every code path the measurement takes has run once (JIT, pools, queues).</summary>
    public async Task WarmUpAsync(string account)
    {
        var ids = await CreatePostsAsync(8, i => ($"warm-up {i}", [account], DateTimeOffset.UtcNow.AddMilliseconds(500)));
        await WaitForAsync(ids, TimeSpan.FromSeconds(60), c => c.Published + c.Failed == ids.Length, "the warm-up posts");
    }

    public sealed record Progress(int Claimed, int Published, int Failed);

    /// <summary>Polls the scheduling schema until <paramref name="done"/>; false on timeout.</summary>
    public async Task<bool> WaitForAsync(string[] postIds, TimeSpan timeout, Func<Progress, bool> done, string what, TimeSpan? poll = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        await using var connection = new NpgsqlConnection(Postgres);
        await connection.OpenAsync();
        while (true)
        {
            var progress = await connection.QuerySingleAsync<Progress>("""
                SELECT count(*) FILTER (WHERE attempt_count > 0)::int AS Claimed,
                       count(*) FILTER (WHERE status = 'published')::int AS Published,
                       count(*) FILTER (WHERE status IN ('failed', 'cancelled', 'skipped'))::int AS Failed
                FROM scheduling.targets WHERE post_id = ANY(@postIds)
                """, new { postIds });
            if (done(progress))
            {
                return true;
            }

            if (DateTime.UtcNow > deadline)
            {
                Console.Error.WriteLine($"  timed out waiting for {what}: {progress}");
                return false;
            }

            await Task.Delay(poll ?? TimeSpan.FromMilliseconds(500));
        }
    }

    /// <summary>
    /// Waits until the work a burst set off has run its course: no due outbox message left unsent (the domain events it
    /// emitted) and the webhooks service's event count steady for a second.
    /// </summary>
    public async Task WaitQuiescentAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        await using var connection = new NpgsqlConnection(Postgres);
        await connection.OpenAsync();
        long lastEvents = -1;
        while (DateTime.UtcNow < deadline)
        {
            var (unsent, events) = await connection.QuerySingleAsync<(long, long)>("""
                SELECT (SELECT count(*) FROM scheduling.outbox WHERE sent_at IS NULL AND due_at <= clock_timestamp()),
                       (SELECT count(*) FROM webhooks.events)
                """);
            if (unsent == 0 && events == lastEvents)
            {
                return;
            }

            lastEvents = events;
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>The claim moment of every target of <paramref name="postIds"/> (targets.last_attempt_at, set by the claim).</summary>
    public async Task<List<ClaimRecord>> ClaimsAsync(string[] postIds)
    {
        await using var connection = new NpgsqlConnection(Postgres);
        return (await connection.QueryAsync<ClaimRecord>("""
            SELECT t.id AS TargetId, p.scheduled_for AS ScheduledFor, t.last_attempt_at AS LastAttemptAt, t.attempt_count AS AttemptCount, t.status AS Status
            FROM scheduling.targets t JOIN scheduling.posts p ON p.id = t.post_id
            WHERE t.post_id = ANY(@postIds)
            """, new { postIds })).AsList();
    }

    public async Task<List<SandboxStatus>> SandboxStatusesAsync()
        => (await Sandbox.GetFromJsonAsync<List<SandboxStatus>>("/sandbox/statuses", Json))!;

    public static async Task<JsonElement> ReadAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        string body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != expected)
        {
            throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.PathAndQuery}: expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        }

        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Every service's resident memory now.</summary>
    public Dictionary<string, (double RssMb, double HighWaterMb)> Memory()
        => Suite.Services.Select(s => (s.Name, Rss: ResidentMemory.Read(s))).Where(x => x.Rss is not null).ToDictionary(x => x.Name, x => x.Rss!.Value);

    public async ValueTask DisposeAsync()
    {
        Gateway?.Dispose();
        Sandbox?.Dispose();
        if (_suite is not null)
        {
            Directory.CreateDirectory(LogDirectory);
            await File.WriteAllTextAsync(Path.Combine(LogDirectory, $"{_scenario}.log"), _suite.Logs);
            await _suite.DisposeAsync();
        }
    }
}
