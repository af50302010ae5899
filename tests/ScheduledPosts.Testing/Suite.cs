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
    private readonly Dictionary<string, Dictionary<string, string>> _environments = [];

    public string PostgresConnectionString { get; }

    /// <summary>The RabbitMQ server and virtual host the services use.</summary>
    public RabbitMqServer RabbitMq { get; }

    public string VirtualHost { get; }

    private Suite(string postgres, RabbitMqServer rabbit, string vhost)
    {
        PostgresConnectionString = postgres;
        RabbitMq = rabbit;
        VirtualHost = vhost;
    }

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
        return await LaunchAsync(postgres, rabbit, vhost, configure, logLevel);
    }

    /// <summary>
    /// Starts the suite on a fresh database and virtual host of the given servers rather than the shared ones: the
    /// chaos tests' own, which they stop and start. <paramref name="postgresAdmin"/> connects as a user who may
    /// create databases; <paramref name="rabbit"/>'s management API creates the virtual host.
    /// </summary>
    public static async Task<Suite> StartAsync(string postgresAdmin, RabbitMqServer rabbit,
        Action<string, Dictionary<string, string>>? configure = null, string logLevel = "Warning")
    {
        string postgres = await Infrastructure.CreateDatabaseAsync(postgresAdmin);
        string vhost = await Infrastructure.CreateVirtualHostAsync(rabbit);
        return await LaunchAsync(postgres, rabbit, vhost, configure, logLevel);
    }

    private static async Task<Suite> LaunchAsync(string postgres, RabbitMqServer rabbit, string vhost,
        Action<string, Dictionary<string, string>>? configure, string logLevel)
    {
        var suite = new Suite(postgres, rabbit, vhost);
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

        foreach (string name in Order)
        {
            configure?.Invoke(name, environments[name]);
            suite._environments[name] = environments[name];
            suite._services[name] = suite.ProcessFor(name, name, environments[name]);
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

    /// <summary>
    /// Starts one more replica of <paramref name="service"/> (scheduling, publisher, webhooks or gateway) on the same
    /// database and virtual host, under the name <c>service#n</c>, with its own ports. <paramref name="configure"/> may
    /// change its environment, e.g. point a publisher replica at <see cref="GrpcUrl"/> of a scheduling replica.
    /// </summary>
    public async Task<ServiceProcess> StartReplicaAsync(string service, Action<Dictionary<string, string>>? configure = null)
    {
        if (service == "sandbox" || !_environments.TryGetValue(service, out var primary))
        {
            throw new ArgumentException($"No replicas of '{service}': one of scheduling, publisher, webhooks, gateway.", nameof(service));
        }

        string name = $"{service}#{_services.Keys.Count(k => k == service || k.StartsWith(service + "#", StringComparison.Ordinal)) + 1}";
        var environment = new Dictionary<string, string>(primary);
        foreach (var (key, listener) in Listeners[service])
        {
            string port = listener + name[service.Length..];
            _ports[port] = FreePort();
            environment[key] = Url(port);
        }

        configure?.Invoke(environment);
        var replica = ProcessFor(name, service, environment);
        _services[name] = replica;
        await replica.StartAsync();
        return replica;
    }

    /// <summary>The REST (or only) base URL of a service or replica, e.g. <c>scheduling#2</c>.</summary>
    public Uri HttpUrl(string name) => new(Url(name));

    /// <summary>The gRPC base URL of the scheduling or webhooks service or one of their replicas.</summary>
    public Uri GrpcUrl(string name)
    {
        string service = name.Split('#')[0];
        return new(Url(service + "Grpc" + name[service.Length..]));
    }

    // Which Kestrel endpoint of each service listens on which of the suite's ports (named after the service).
    private static readonly Dictionary<string, (string Key, string Port)[]> Listeners = new()
    {
        ["scheduling"] = [("Kestrel__Endpoints__Rest__Url", "scheduling"), ("Kestrel__Endpoints__Grpc__Url", "schedulingGrpc")],
        ["publisher"] = [("Kestrel__Endpoints__Http__Url", "publisher")],
        ["webhooks"] = [("Kestrel__Endpoints__Rest__Url", "webhooks"), ("Kestrel__Endpoints__Grpc__Url", "webhooksGrpc")],
        ["gateway"] = [("Kestrel__Endpoints__Http__Url", "gateway")],
    };

    private static readonly Dictionary<string, (string Dir, string Assembly, string Health)> Layout = new()
    {
        ["sandbox"] = ("services/sandbox", "ScheduledPosts.Sandbox.dll", "/healthz"),
        ["scheduling"] = ("services/scheduling", "ScheduledPosts.Scheduling.dll", "/readyz"),
        ["publisher"] = ("services/publisher", "ScheduledPosts.Publisher.dll", "/readyz"),
        ["webhooks"] = ("services/webhooks", "ScheduledPosts.Webhooks.dll", "/readyz"),
        ["gateway"] = ("gateway", "ScheduledPosts.Gateway.dll", "/healthz"),
    };

    private ServiceProcess ProcessFor(string name, string service, Dictionary<string, string> environment)
    {
        var (dir, assembly, health) = Layout[service];
        string path = Path.Combine(RepoRoot, dir, "bin", Configuration, "net10.0", assembly);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{service} is not built at {path}; build the solution first (./test.sh does).");
        }

        return new ServiceProcess(name, path, environment, new Uri(new Uri(Url(name)), health));
    }

    private string Url(string port) => $"http://127.0.0.1:{_ports[port]}";

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>
    /// A port free now, for a service to bind a moment later. Drawn at random below Linux's ephemeral range
    /// (32768–60999), where the OS would otherwise hand the same port to an outgoing connection in between — a
    /// loaded machine makes plenty — and never twice in this process.
    /// </summary>
    private static int FreePort()
    {
        lock (HandedOut)
        {
            while (true)
            {
                int port = Random.Shared.Next(20_000, 32_000);
                if (!HandedOut.Add(port))
                {
                    continue;
                }

                try
                {
                    using var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    return port;
                }
                catch (SocketException)
                {
                    // taken: draw again
                }
            }
        }
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

        // Now that no service holds them. Logged, not thrown: the chaos tests may have left their servers down.
        await using var leftovers = new TestResources(problem => Console.Error.WriteLine($"Suite: {problem}"));
        leftovers.AddDatabase(PostgresConnectionString);
        leftovers.AddVirtualHost(RabbitMq, VirtualHost);
        if (_environments.TryGetValue("scheduling", out var scheduling) && scheduling.TryGetValue("Media__Directory", out string? media)
            && Path.GetFileName(media).StartsWith("sp-e2e-media-", StringComparison.Ordinal))
        {
            leftovers.AddDirectory(media); // the suite's own, not a folder a caller configured
        }
    }
}
