using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using ScheduledPosts.Testing;
using Xunit;
using Xunit.Abstractions;

namespace ScheduledPosts.Chaos.Tests;

/// <summary>
/// One scenario's system: the whole suite as OS processes on a fresh database and virtual host of the chaos servers,
/// sandbox accounts to publish to, and two webhook subscribers — <see cref="Everything"/> (every event type) and
/// <see cref="Cancellations"/> (<c>post.cancelled</c>). Short leases, backoffs and retry schedules, so recovery fits
/// in a test; the scenario may change any setting.
/// </summary>
public sealed class ChaosSystem : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly List<HttpClient> _gateways = [];
    private readonly List<HttpClient> _otherWorkspaces = [];
    private int _nextGateway;

    public Suite Suite { get; }
    public HttpClient Sandbox { get; }
    public Subscriber Everything { get; private set; } = null!;
    public Subscriber Cancellations { get; private set; } = null!;

    /// <summary>The id of the bootstrap key's workspace, where the burst and the two subscribers live.</summary>
    public string Workspace { get; private set; } = "";

    /// <summary>Each subscriber with the event types its endpoint subscribed to (<c>*</c>: all) and the workspace it is in.</summary>
    public List<(Subscriber Subscriber, string[] Events, string Workspace)> Subscriptions { get; } = [];

    /// <summary>The burst's accounts: account id → sandbox handle.</summary>
    public Dictionary<string, string> Accounts { get; } = [];

    /// <summary>Accounts of other workspaces (<see cref="NewWorkspaceAsync"/>), which no burst posts to.</summary>
    public Dictionary<string, string> OtherAccounts { get; } = [];

    /// <summary>The sandbox handle of any account of the system.</summary>
    public string Handle(string accountId) => Accounts.TryGetValue(accountId, out var handle) ? handle : OtherAccounts[accountId];

    public ITestOutputHelper Output { get; }

    private ChaosSystem(Suite suite, ITestOutputHelper output)
    {
        Suite = suite;
        Management = suite.RabbitMq;
        Output = output;
        Sandbox = new HttpClient { BaseAddress = suite.SandboxUrl };
        AddGateway(suite.GatewayUrl);
    }

    public ServiceProcess this[string name] => Suite[name];

    /// <summary>The broker whose management API the scenario reads: the suite's, unless a scenario stops that node.</summary>
    public RabbitMqServer Management { get; set; }

    /// <summary>
    /// Starts the system on the chaos servers, or on <paramref name="broker"/> (a node of the chaos cluster) for the
    /// virtual host, the services then connecting to whatever nodes <paramref name="configure"/> lists; or on the database
    /// server(s) <paramref name="postgres"/> names (the replica pair).
    /// </summary>
    public static async Task<ChaosSystem> StartAsync(ITestOutputHelper output, Action<string, Dictionary<string, string>>? configure = null, int accounts = 8,
        RabbitMqServer? broker = null, string? postgres = null)
    {
        await ChaosServers.EnsureRunningAsync();
        var suite = await Suite.StartAsync(postgres ?? ChaosServers.Postgres, broker ?? ChaosServers.RabbitMq, (service, environment) =>
        {
            Defaults(service, environment);
            configure?.Invoke(service, environment);
        });
        var system = new ChaosSystem(suite, output);
        try
        {
            await system.SetUpAsync(accounts);
        }
        catch
        {
            await system.DisposeAsync();
            throw;
        }

        return system;
    }

    /// <summary>Short enough for recovery to happen within a scenario; the same mechanisms as in production.</summary>
    private static void Defaults(string service, Dictionary<string, string> environment)
    {
        switch (service)
        {
            case "scheduling":
                environment["Publishing__Lease"] = "00:00:05";
                // The sandbox platform dedupes atomically, so a claim lost with its publisher may be retried soon.
                environment["Publishing__ExpiredClaimQuietPeriod"] = "00:00:02";
                environment["Publishing__ReaperInterval"] = "00:00:00.500";
                environment["Publishing__RetryBase"] = "00:00:00.300";
                environment["Publishing__RetryCap"] = "00:00:02";
                environment["Publishing__MaxAttempts"] = "8";
                environment["Dispatcher__BatchSize"] = "50";
                break;
            case "publisher":
                environment["Sandbox__Timeout"] = "00:00:02";
                environment["Scheduling__CallTimeout"] = "00:00:05";
                environment["UploadLimits__ConcurrentUploadsPerAccount"] = "8";
                environment["UploadLimits__Platforms__sandbox__TokenLimit"] = "1000";
                environment["UploadLimits__Platforms__sandbox__TokensPerPeriod"] = "1000";
                break;
            case "webhooks":
                string[] retries = ["00:00:01", "00:00:01", "00:00:02", "00:00:03", "00:00:05", "00:00:05", "00:00:10", "00:00:10", "00:00:10"];
                for (int i = 0; i < retries.Length; i++)
                {
                    environment[$"Webhooks__RetrySchedule__{i}"] = retries[i];
                }

                environment["Webhooks__RequestTimeout"] = "00:00:02";
                environment["Webhooks__ClaimLease"] = "00:00:05";
                environment["Webhooks__MaxIdle"] = "00:00:05";
                break;
            case "gateway":
                environment["RateLimits__RequestsPerSecond"] = "100000";
                environment["RateLimits__Burst"] = "100000";
                break;
        }
    }

    private async Task SetUpAsync(int accounts)
    {
        Everything = await Subscriber.StartAsync("everything");
        Cancellations = await Subscriber.StartAsync("cancellations");
        await SubscribeAsync(Everything, ["*"]);
        await SubscribeAsync(Cancellations, ["post.cancelled"]);
        Workspace = Subscriptions[0].Workspace;
        string run = Guid.NewGuid().ToString("N")[..6];
        for (int i = 0; i < accounts; i++)
        {
            string handle = $"chaos{run}{i}";
            var response = await Gateway.PostAsJsonAsync("/v1/social-accounts", new { platform = "sandbox", handle });
            Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
            Accounts[(await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>()] = handle;
        }

        // Every upload takes a while, so a burst lasts long enough to strike in its middle.
        await SetUploadLatencyAsync(TimeSpan.FromMilliseconds(60));
    }

    /// <summary>How long the sandbox platform takes to answer each upload.</summary>
    public Task SetUploadLatencyAsync(TimeSpan latency) => InjectFaultAsync(new { latencyMs = (int)latency.TotalMilliseconds });

    /// <summary>A fault of the sandbox platform (<c>POST /sandbox/faults</c>): latency, error statuses or held answers.</summary>
    public async Task InjectFaultAsync(object fault)
    {
        var response = await Sandbox.PostAsJsonAsync("/sandbox/faults", fault);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Subscribes <paramref name="subscriber"/> in the burst's workspace, or in another one through its <paramref name="client"/>.</summary>
    public async Task SubscribeAsync(Subscriber subscriber, string[] events, HttpClient? client = null, string? workspace = null)
    {
        var response = await (client ?? Gateway).PostAsJsonAsync("/v1/webhook-endpoints", new { url = subscriber.Url.ToString(), events });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        string endpointId = (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        string inWorkspace = (await QueryAsync($"SELECT workspace_id FROM webhooks.endpoints WHERE id = '{endpointId}'", r => r.GetString(0)))[0];
        Assert.True(workspace is null || workspace == inWorkspace, $"{subscriber.Name} subscribed in {inWorkspace}, not {workspace}");
        Subscriptions.Add((subscriber, events, inWorkspace));
    }

    /// <summary>Another workspace (the admin API), with a sandbox account of its own; returns its id, a client with its owner key, and the account.</summary>
    public async Task<(string Workspace, HttpClient Client, string AccountId)> NewWorkspaceAsync(string name)
    {
        using var admin = new HttpClient { BaseAddress = Suite.GatewayUrl };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Suite.AdminToken);
        var response = await admin.PostAsJsonAsync("/admin/workspaces", new { name = $"{name}-{Guid.NewGuid():N}" });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var created = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        var client = new HttpClient { BaseAddress = Suite.GatewayUrl, Timeout = TimeSpan.FromSeconds(15) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", created["ownerKey"]!["secret"]!.GetValue<string>());
        _otherWorkspaces.Add(client);
        string handle = $"{name}{Guid.NewGuid():N}"[..20];
        var account = await client.PostAsJsonAsync("/v1/social-accounts", new { platform = "sandbox", handle });
        Assert.True(account.StatusCode == HttpStatusCode.Created, await account.Content.ReadAsStringAsync());
        string accountId = (await account.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        OtherAccounts[accountId] = handle;
        return (created["id"]!.GetValue<string>(), client, accountId);
    }

    /// <summary>A gateway replica's client; requests go round-robin over every gateway.</summary>
    public void AddGateway(Uri url)
    {
        var client = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(15) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Suite.BootstrapKey);
        _gateways.Add(client);
    }

    public HttpClient Gateway => _gateways[(int)((uint)Interlocked.Increment(ref _nextGateway) % (uint)_gateways.Count)];

    public sealed record SandboxStatus(string Id, string Account, string Status, string? IdempotencyKey, DateTimeOffset ReceivedAt);

    public async Task<List<SandboxStatus>> SandboxStatusesAsync()
        => (await Sandbox.GetFromJsonAsync<List<SandboxStatus>>("/sandbox/statuses", Json))!;

    public async Task<List<T>> QueryAsync<T>(string sql, Func<NpgsqlDataReader, T> read)
    {
        await using var connection = new NpgsqlConnection(Suite.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync())
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    public async Task<long> CountAsync(string sql) => (await QueryAsync(sql, r => r.GetInt64(0)))[0];

    /// <summary>
    /// The virtual host's queues as the management API reports them: name, messages ready or unacked, how many were
    /// published to each, and how many consumers each has.
    /// </summary>
    public async Task<List<(string Name, long Messages, long Published, long Consumers)>> QueuesAsync()
    {
        using var http = RabbitMqManagement();
        var queues = await http.GetFromJsonAsync<JsonArray>($"api/queues/{Uri.EscapeDataString(Suite.VirtualHost)}");
        return [.. queues!.Select(q => (
            q!["name"]!.GetValue<string>(),
            q["messages"]?.GetValue<long>() ?? 0,
            q["message_stats"]?["publish"]?.GetValue<long>() ?? 0,
            q["consumers"]?.GetValue<long>() ?? 0))];
    }

    /// <summary>
    /// For a failure's output: each queue's ready and unacknowledged messages and consumers, each consumer's channel (its
    /// node and prefetch), and each channel's unacknowledged messages. A consumer that never came back shows as none on
    /// its queue; messages the broker holds for a channel that no longer takes them show as unacknowledged on no channel.
    /// </summary>
    public async Task<string> BrokerStateAsync()
    {
        using var http = RabbitMqManagement();
        string vhost = Uri.EscapeDataString(Suite.VirtualHost);
        var queues = await http.GetFromJsonAsync<JsonArray>($"api/queues/{vhost}");
        var consumers = await http.GetFromJsonAsync<JsonArray>($"api/consumers/{vhost}");
        var channels = await http.GetFromJsonAsync<JsonArray>($"api/vhosts/{vhost}/channels");
        var lines = new List<string> { "broker queues:" };
        lines.AddRange(queues!.Select(q => $"  {q!["name"]} ({q["type"]}, leader {q["leader"] ?? q["node"]}): " +
            $"ready {q["messages_ready"]}, unacked {q["messages_unacknowledged"]}, consumers {q["consumers"]}"));
        lines.Add("broker consumers:");
        lines.AddRange(consumers!.Select(c => $"  {c!["queue"]?["name"]} on {c["channel_details"]?["name"]} " +
            $"(node {c["channel_details"]?["node"]}), prefetch {c["prefetch_count"]}, active {c["active"]}"));
        lines.Add("broker channels:");
        lines.AddRange(channels!.Select(c => $"  {c!["name"]} (node {c["node"]}, {c["state"]}): consumers {c["consumer_count"]}, " +
            $"unacked {c["messages_unacknowledged"]}, prefetch {c["prefetch_count"]}"));
        return string.Join('\n', lines);
    }

    private HttpClient RabbitMqManagement() => Infrastructure.ManagementClient(Management);

    /// <summary>The virtual host's client connections per broker node (the services' own, by the node that holds each).</summary>
    public async Task<Dictionary<string, int>> ConnectionsByNodeAsync()
    {
        using var http = RabbitMqManagement();
        var connections = await http.GetFromJsonAsync<JsonArray>($"api/vhosts/{Uri.EscapeDataString(Suite.VirtualHost)}/connections");
        return connections!.GroupBy(c => c!["node"]!.GetValue<string>()).ToDictionary(g => g.Key, g => g.Count());
    }

    /// <summary>Whether a service's readiness check passes (its database and broker reachable).</summary>
    public static async Task<bool> ReadyAsync(Uri baseUrl)
    {
        using var http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            return (await http.GetAsync("/readyz")).IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    public static string Iso(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        foreach (var gateway in _gateways.Concat(_otherWorkspaces))
        {
            gateway.Dispose();
        }

        Sandbox.Dispose();
        // It drops the scenario's database and virtual host too, so the chaos servers, which every scenario restarts, stay small.
        await Suite.DisposeAsync();
        if (Everything is not null)
        {
            await Everything.DisposeAsync();
        }

        if (Cancellations is not null)
        {
            await Cancellations.DisposeAsync();
        }
    }
}
