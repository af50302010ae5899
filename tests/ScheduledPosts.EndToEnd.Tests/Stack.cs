using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// The whole suite as separate processes on free ports — gateway, scheduling, publisher, webhooks and the
/// sandbox platform — over a fresh database and RabbitMQ virtual host. Tests talk to it only through the
/// gateway's REST API and the sandbox platform's record of what it received.
/// </summary>
public class Stack : IAsyncLifetime
{
    public const string BootstrapKey = "sp_e2e_owner_key_0123456789_abcdefghijkl";
    public const string AdminToken = "e2e-admin-token-0123456789-abcdefghijkl";
    private readonly Dictionary<string, ServiceProcess> _services = [];
    private readonly Dictionary<string, int> _ports = [];
    private readonly Dictionary<string, Dictionary<string, string>> _environments = [];

    /// <summary>Lets a test class change a service's settings before the stack starts.</summary>
    protected virtual void Configure(string service, Dictionary<string, string> environment)
    {
    }

    public HttpClient Gateway { get; private set; } = null!;
    public HttpClient Sandbox { get; private set; } = null!;
    public WebhookReceiver Receiver { get; private set; } = null!;
    public string PostgresConnectionString { get; private set; } = "";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task InitializeAsync()
    {
        PostgresConnectionString = await Infrastructure.CreateDatabaseAsync();
        var (rabbit, vhost) = await Infrastructure.CreateVirtualHostAsync();
        foreach (string port in new[] { "gateway", "scheduling", "schedulingGrpc", "webhooks", "webhooksGrpc", "publisher", "sandbox" })
        {
            _ports[port] = FreePort();
        }

        var common = new Dictionary<string, string>
        {
            ["Internal__Secret"] = "e2e-internal-secret-0123456789-abcdefghijkl",
            ["ConnectionStrings__Postgres"] = PostgresConnectionString,
            ["RabbitMq__Host"] = rabbit.Host,
            ["RabbitMq__Port"] = rabbit.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RabbitMq__VirtualHost"] = vhost,
            ["RabbitMq__Username"] = rabbit.Username,
            ["RabbitMq__Password"] = rabbit.Password,
            ["Logging__LogLevel__Default"] = "Warning",
        };

        Add("sandbox", "tests/ScheduledPosts.Sandbox", "ScheduledPosts.Sandbox.dll", "/healthz", new()
        {
            ["Kestrel__Endpoints__Http__Url"] = Url("sandbox"),
        });
        Add("scheduling", "services/scheduling", "ScheduledPosts.Scheduling.dll", "/readyz", new(common)
        {
            ["Kestrel__Endpoints__Rest__Url"] = Url("scheduling"),
            ["Kestrel__Endpoints__Grpc__Url"] = Url("schedulingGrpc"),
            ["Credentials__Key"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["Media__Directory"] = Path.Combine(Path.GetTempPath(), $"sp-e2e-media-{Guid.NewGuid():N}"),
        });
        Add("publisher", "services/publisher", "ScheduledPosts.Publisher.dll", "/readyz", new(common)
        {
            ["Kestrel__Endpoints__Http__Url"] = Url("publisher"),
            ["Scheduling__GrpcUrl"] = Url("schedulingGrpc"),
            ["Sandbox__BaseUrl"] = Url("sandbox"),
        });
        Add("webhooks", "services/webhooks", "ScheduledPosts.Webhooks.dll", "/readyz", new(common)
        {
            ["Kestrel__Endpoints__Rest__Url"] = Url("webhooks"),
            ["Kestrel__Endpoints__Grpc__Url"] = Url("webhooksGrpc"),
            ["Webhooks__AllowHttp"] = "true",
            ["Webhooks__AllowLoopback"] = "true",
        });
        Add("gateway", "gateway", "ScheduledPosts.Gateway.dll", "/healthz", new(common)
        {
            ["Kestrel__Endpoints__Http__Url"] = Url("gateway"),
            ["Bootstrap__Key"] = BootstrapKey,
            ["Admin__Token"] = AdminToken,
            ["ReverseProxy__Clusters__scheduling__Destinations__default__Address"] = Url("scheduling"),
            ["ReverseProxy__Clusters__webhooks__Destinations__default__Address"] = Url("webhooks"),
        });

        foreach (var (name, service) in _environments)
        {
            Configure(name, service);
        }

        // The sandbox and scheduling first (the others call them), then the rest together.
        await Task.WhenAll(_services["sandbox"].StartAsync(), _services["scheduling"].StartAsync());
        await Task.WhenAll(_services["publisher"].StartAsync(), _services["webhooks"].StartAsync(), _services["gateway"].StartAsync());

        Gateway = new HttpClient { BaseAddress = new Uri(Url("gateway")) };
        Gateway.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BootstrapKey);
        Sandbox = new HttpClient { BaseAddress = new Uri(Url("sandbox")) };
        Receiver = await WebhookReceiver.StartAsync();
    }

    public ServiceProcess this[string name] => _services[name];

    /// <summary>Everything the services printed, to explain a failure.</summary>
    public string Logs => string.Join('\n', _services.Values.Select(s => s.Output));

    public async Task<string> ConnectSandboxAccountAsync(string handle)
    {
        var response = await Gateway.PostAsJsonAsync("/v1/social-accounts", new { platform = "sandbox", handle });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    public Task<JsonObject> CreatePostAsync(string caption, string accountId, DateTimeOffset scheduledFor)
        => CreatePostAsync(caption, [accountId], scheduledFor);

    public async Task<JsonObject> GetPostAsync(string id)
    {
        var response = await Gateway.GetAsync($"/v1/posts/{id}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    public sealed record SandboxStatus(string Id, string Account, string Status, string? IdempotencyKey, DateTimeOffset ReceivedAt);

    public async Task<List<SandboxStatus>> SandboxStatusesAsync()
        => (await Sandbox.GetFromJsonAsync<List<SandboxStatus>>("/sandbox/statuses", Json))!;

    public async Task<string> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

    private void Add(string name, string projectDir, string assembly, string healthPath, Dictionary<string, string> environment)
    {
        string path = Path.Combine(RepoRoot, projectDir, "bin", Configuration, "net10.0", assembly);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{name} is not built at {path}; build the solution first (./test.sh does).");
        }

        _environments[name] = environment;
        _services[name] = new ServiceProcess(name, path, environment, new Uri(new Uri(Url(name)), healthPath));
    }

    private string Url(string port) => $"http://127.0.0.1:{_ports[port]}";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static readonly string RepoRoot = FindRepoRoot();

    // .../tests/ScheduledPosts.EndToEnd.Tests/bin/<Configuration>/net10.0/
    private static readonly string Configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ScheduledPosts.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("ScheduledPosts.sln not found above the test output.");
    }

    public async Task<HttpResponseMessage> InjectFaultAsync(object fault)
    {
        var response = await Sandbox.PostAsJsonAsync("/sandbox/faults", fault);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return response;
    }

    public async Task<JsonObject> CreatePostAsync(string caption, IEnumerable<string> accountIds, DateTimeOffset scheduledFor)
    {
        var response = await Gateway.PostAsJsonAsync("/v1/posts", new
        {
            caption,
            targets = accountIds.Select(a => new { socialAccountId = a }).ToArray(),
            scheduledFor = scheduledFor.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
        });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    public async Task DisposeAsync()
    {
        Gateway?.Dispose();
        Sandbox?.Dispose();
        if (Receiver is not null)
        {
            await Receiver.DisposeAsync();
        }

        foreach (var service in _services.Values)
        {
            await service.DisposeAsync();
        }
    }
}
