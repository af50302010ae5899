using System.Net;
using System.Net.Sockets;

namespace ScheduledPosts.Testing;

/// <summary>
/// The whole suite as separate OS processes on free loopback ports — sandbox platform, scheduling, publisher,
/// webhooks and gateway, from their build outputs — over the given database and RabbitMQ virtual host.
/// Shared by the end-to-end tests, the chaos tests and the benchmark program.
/// </summary>
public sealed class Suite : IAsyncDisposable
{
    public const string BootstrapKey = "sp_e2e_owner_key_0123456789_abcdefghijkl";
    public const string AdminToken = "e2e-admin-token-0123456789-abcdefghijkl";

    private static readonly string[] Order = ["sandbox", "scheduling", "publisher", "webhooks", "gateway"];
    private readonly Dictionary<string, ServiceProcess> _services = [];
    private readonly Dictionary<string, int> _ports = [];

    public string PostgresConnectionString { get; }

    private Suite(string postgres) => PostgresConnectionString = postgres;

    public Uri GatewayUrl => new(Url("gateway"));
    public Uri SandboxUrl => new(Url("sandbox"));

    public ServiceProcess this[string name] => _services[name];

    public IEnumerable<ServiceProcess> Services => Order.Select(name => _services[name]);

    /// <summary>Everything the services printed, to explain a failure.</summary>
    public string Logs => string.Join('\n', _services.Values.Select(s => s.Output));

    /// <summary>
    /// Starts the suite on a fresh database and virtual host of the shared servers (<see cref="Infrastructure"/>).
    /// <paramref name="configure"/> may change each service's environment (configuration keys with <c>__</c>).
    /// </summary>
    public static async Task<Suite> StartAsync(Action<string, Dictionary<string, string>>? configure = null, string logLevel = "Warning")
    {
        string postgres = await Infrastructure.CreateDatabaseAsync();
        var (rabbit, vhost) = await Infrastructure.CreateVirtualHostAsync();
        var suite = new Suite(postgres);
        foreach (string port in new[] { "gateway", "scheduling", "schedulingGrpc", "webhooks", "webhooksGrpc", "publisher", "sandbox" })
        {
            suite._ports[port] = FreePort();
        }

        var common = new Dictionary<string, string>
        {
            ["Internal__Secret"] = "e2e-internal-secret-0123456789-abcdefghijkl",
            ["ConnectionStrings__Postgres"] = postgres,
            ["RabbitMq__Host"] = rabbit.Host,
            ["RabbitMq__Port"] = rabbit.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RabbitMq__VirtualHost"] = vhost,
            ["RabbitMq__Username"] = rabbit.Username,
            ["RabbitMq__Password"] = rabbit.Password,
            ["Logging__LogLevel__Default"] = logLevel,
        };
        var environments = new Dictionary<string, Dictionary<string, string>>
        {
            ["sandbox"] = new() { ["Kestrel__Endpoints__Http__Url"] = suite.Url("sandbox") },
            ["scheduling"] = new(common)
            {
                ["Kestrel__Endpoints__Rest__Url"] = suite.Url("scheduling"),
                ["Kestrel__Endpoints__Grpc__Url"] = suite.Url("schedulingGrpc"),
                ["Credentials__Key"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
                ["Media__Directory"] = Path.Combine(Path.GetTempPath(), $"sp-e2e-media-{Guid.NewGuid():N}"),
            },
            ["publisher"] = new(common)
            {
                ["Kestrel__Endpoints__Http__Url"] = suite.Url("publisher"),
                ["Scheduling__GrpcUrl"] = suite.Url("schedulingGrpc"),
                ["Sandbox__BaseUrl"] = suite.Url("sandbox"),
            },
            ["webhooks"] = new(common)
            {
                ["Kestrel__Endpoints__Rest__Url"] = suite.Url("webhooks"),
                ["Kestrel__Endpoints__Grpc__Url"] = suite.Url("webhooksGrpc"),
                ["Webhooks__AllowHttp"] = "true",
                ["Webhooks__AllowLoopback"] = "true",
            },
            ["gateway"] = new(common)
            {
                ["Kestrel__Endpoints__Http__Url"] = suite.Url("gateway"),
                ["Bootstrap__Key"] = BootstrapKey,
                ["Admin__Token"] = AdminToken,
                ["ReverseProxy__Clusters__scheduling__Destinations__default__Address"] = suite.Url("scheduling"),
                ["ReverseProxy__Clusters__webhooks__Destinations__default__Address"] = suite.Url("webhooks"),
            },
        };

        (string Dir, string Assembly, string Health, string Port)[] layout =
        [
            ("tests/ScheduledPosts.Sandbox", "ScheduledPosts.Sandbox.dll", "/healthz", "sandbox"),
            ("services/scheduling", "ScheduledPosts.Scheduling.dll", "/readyz", "scheduling"),
            ("services/publisher", "ScheduledPosts.Publisher.dll", "/readyz", "publisher"),
            ("services/webhooks", "ScheduledPosts.Webhooks.dll", "/readyz", "webhooks"),
            ("gateway", "ScheduledPosts.Gateway.dll", "/healthz", "gateway"),
        ];
        for (int i = 0; i < Order.Length; i++)
        {
            string name = Order[i];
            configure?.Invoke(name, environments[name]);
            string path = Path.Combine(RepoRoot, layout[i].Dir, "bin", Configuration, "net10.0", layout[i].Assembly);
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"{name} is not built at {path}; build the solution first (./test.sh does).");
            }

            suite._services[name] = new ServiceProcess(name, path, environments[name], new Uri(new Uri(suite.Url(layout[i].Port)), layout[i].Health));
        }

        try
        {
            // The sandbox and scheduling first (the others call them), then the rest together.
            await Task.WhenAll(suite["sandbox"].StartAsync(), suite["scheduling"].StartAsync());
            await Task.WhenAll(suite["publisher"].StartAsync(), suite["webhooks"].StartAsync(), suite["gateway"].StartAsync());
        }
        catch
        {
            await suite.DisposeAsync();
            throw;
        }

        return suite;
    }

    private string Url(string port) => $"http://127.0.0.1:{_ports[port]}";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The repository root, found above the running program's output folder.</summary>
    public static readonly string RepoRoot = FindRepoRoot();

    // .../<project>/bin/<Configuration>/net10.0/
    private static readonly string Configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ScheduledPosts.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("ScheduledPosts.sln not found above the program's output.");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var service in _services.Values)
        {
            await service.DisposeAsync();
        }
    }
}
