using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;

namespace ScheduledPosts.Testing;

/// <summary>
/// The whole suite as separate OS processes on free loopback ports — sandbox platform, scheduling, publisher,
/// webhooks and gateway, from their build outputs — over the given database and RabbitMQ virtual host.
/// Shared by the end-to-end tests, the chaos tests and the benchmark program. Which processes, their listeners, the
/// settings each needs and how they point at each other come from deploy/services.json (<see cref="Deployment"/>).
/// </summary>
public sealed class Suite : IAsyncDisposable
{
    public const string BootstrapKey = "sp_e2e_owner_key_0123456789_abcdefghijkl";
    public const string AdminToken = "e2e-admin-token-0123456789-abcdefghijkl";

    // Start order: as described (the sandbox and scheduling first: the others call them).
    private static IEnumerable<string> Order => Deployment.Current.Services.Select(s => s.Name);
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
        var brokerUsers = await BrokerUsers.CreateAsync(rabbit, vhost);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await suite.StartServicesAsync(configure, logLevel, brokerUsers);
                return suite;
            }
            catch (PortTakenException) when (attempt < PortAttempts)
            {
                // Another process took a port between FreePort and the bind: again, on other ports.
                await suite.StopServicesAsync();
                if (suite.OwnMediaDirectory is { } media && Directory.Exists(media))
                {
                    Directory.Delete(media, recursive: true);
                }
            }
            catch
            {
                await suite.DisposeAsync();
                throw;
            }
        }
    }

    // How often a start is tried on fresh ports before a port taken in between fails it.
    private const int PortAttempts = 3;

    private async Task StartServicesAsync(Action<string, Dictionary<string, string>>? configure, string logLevel,
        IReadOnlyDictionary<string, BrokerUsers.User> brokerUsers)
    {
        foreach (var service in Deployment.Current.Services)
        {
            for (int i = 0; i < service.Listeners.Count; i++)
            {
                _ports[PortName(service, i)] = FreePort();
            }
        }

        var environments = Environments(
            (service, listener) => Url(PortName(Deployment.Current[service], Deployment.Current[service].IndexOf(listener))),
            PostgresConnectionString, RabbitMq, VirtualHost, logLevel, brokerUsers);
        foreach (string name in Order)
        {
            configure?.Invoke(name, environments[name]);
            _environments[name] = environments[name];
            _services[name] = ProcessFor(name, name, environments[name]);
        }

        // The sandbox and scheduling first (the others call them), then the rest together.
        await Task.WhenAll(this["sandbox"].StartAsync(), this["scheduling"].StartAsync());
        await Task.WhenAll(this["publisher"].StartAsync(), this["webhooks"].StartAsync(), this["gateway"].StartAsync());
    }

    private async Task StopServicesAsync()
    {
        foreach (var service in _services.Values)
        {
            await service.DisposeAsync();
        }

        _services.Clear();
    }

    /// <summary>
    /// The environment (configuration keys with <c>__</c>) of every described service: its listeners at
    /// <paramref name="listenerUrl"/>(service, listener), every setting deploy/services.json requires of it, and the
    /// wiring to the others' listeners. Starts nothing, so a test can check it against the description.
    /// </summary>
    /// <paramref name="brokerUsers"/>: each service's own broker user (<see cref="BrokerUsers"/>); without them, the
    /// tests' own user.
    public static Dictionary<string, Dictionary<string, string>> Environments(Func<string, string, string> listenerUrl,
        string postgres, RabbitMqServer rabbit, string vhost, string logLevel = "Warning",
        IReadOnlyDictionary<string, BrokerUsers.User>? brokerUsers = null)
    {
        // The suite's value of each setting the description may require.
        var values = new Dictionary<string, string>(InternalKeys.Settings)
        {
            ["ConnectionStrings:Postgres"] = postgres,
            ["RabbitMq:Host"] = rabbit.Host,
            ["RabbitMq:Username"] = rabbit.Username,
            ["RabbitMq:Password"] = rabbit.Password,
            ["Watch:BrokerManagementUrl"] = rabbit.ManagementUrl.ToString(),
            ["Watch:BrokerManagementUsername"] = rabbit.Username,
            ["Watch:BrokerManagementPassword"] = rabbit.Password,
            ["Credentials:Key"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["Media:Directory"] = Path.Combine(Path.GetTempPath(), $"sp-e2e-media-{Guid.NewGuid():N}"),
            ["Webhooks:SecretKey"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["Bootstrap:Key"] = BootstrapKey,
        };

        var environments = new Dictionary<string, Dictionary<string, string>>();
        foreach (var service in Deployment.Current.Services)
        {
            var environment = new Dictionary<string, string>();
            foreach (var listener in service.Listeners)
            {
                environment[Deployment.ListenerKey(listener.Name)] = listenerUrl(service.Name, listener.Name);
            }

            foreach (string setting in service.Settings)
            {
                environment[Deployment.EnvironmentKey(setting)] = values.TryGetValue(setting, out string? value)
                    ? value
                    : throw new InvalidOperationException($"deploy/services.json requires {setting} of {service.Name}, and Suite has no value for it.");
            }

            foreach (var (setting, target) in service.Wiring)
            {
                environment[Deployment.EnvironmentKey(setting)] = listenerUrl(target.Service, target.Listener);
            }

            // What only the tests set: the broker's port and virtual host, quieter logs, and per-service test policy.
            if (service.Settings.Contains("RabbitMq:Host"))
            {
                environment["RabbitMq__Port"] = rabbit.Port.ToString(CultureInfo.InvariantCulture);
                environment["RabbitMq__VirtualHost"] = vhost;
                if (brokerUsers is not null)
                {
                    var user = brokerUsers.TryGetValue(service.Name, out var own) ? own
                        : throw new InvalidOperationException($"deploy/rabbitmq/permissions.tsv has no user for {service.Name}, which uses the broker.");
                    environment["RabbitMq__Username"] = user.Name;
                    environment["RabbitMq__Password"] = user.Password;
                }
            }

            // The queue depths of GET /admin/status, read by the scheduling service's monitor user.
            if (service.Settings.Contains("Watch:BrokerManagementUsername") && brokerUsers?.GetValueOrDefault(BrokerUsers.SchedulingMonitor) is { } monitor)
            {
                environment["Watch__BrokerManagementUsername"] = monitor.Name;
                environment["Watch__BrokerManagementPassword"] = monitor.Password;
            }

            if (service.Name != "sandbox")
            {
                environment["Logging__LogLevel__Default"] = logLevel;
            }

            if (service.Name == "webhooks")
            {
                environment["Webhooks__AllowHttp"] = "true";
                environment["Webhooks__AllowLoopback"] = "true";
            }

            if (service.Name == "gateway")
            {
                environment["Admin__Token"] = AdminToken;
            }

            environments[service.Name] = environment;
        }

        return environments;
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
        var described = Deployment.Current[service];
        for (int attempt = 1; ; attempt++)
        {
            var environment = new Dictionary<string, string>(primary);
            for (int i = 0; i < described.Listeners.Count; i++)
            {
                string port = PortName(described, i) + name[service.Length..];
                _ports[port] = FreePort();
                environment[Deployment.ListenerKey(described.Listeners[i].Name)] = Url(port);
            }

            configure?.Invoke(environment);
            var replica = ProcessFor(name, service, environment);
            _services[name] = replica;
            try
            {
                await replica.StartAsync();
                return replica;
            }
            catch (PortTakenException) when (attempt < PortAttempts)
            {
                await replica.DisposeAsync();
            }
        }
    }

    /// <summary>The REST (or only) base URL of a service or replica, e.g. <c>scheduling#2</c>.</summary>
    public Uri HttpUrl(string name) => new(Url(name));

    /// <summary>The gRPC base URL of the scheduling or webhooks service or one of their replicas.</summary>
    public Uri GrpcUrl(string name)
    {
        string service = name.Split('#')[0];
        return new(Url(service + "Grpc" + name[service.Length..]));
    }

    // The suite's name of a service's port: the service's own for its first (REST or only) listener, e.g. "scheduling",
    // and with the listener's name for the others, e.g. "schedulingGrpc".
    private static string PortName(Deployment.Service service, int listener) =>
        listener == 0 ? service.Name : service.Name + service.Listeners[listener].Name;

    /// <summary>Where <paramref name="service"/>'s built assembly is (in the configuration of the running program).</summary>
    public static string BuildOutput(string service)
    {
        var described = Deployment.Current[service];
        return Path.Combine(RepoRoot, described.ProjectDirectory, "bin", Configuration, "net10.0", described.Assembly);
    }

    private ServiceProcess ProcessFor(string name, string service, Dictionary<string, string> environment)
    {
        string path = BuildOutput(service);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{service} is not built at {path}; build the solution first (./test.sh does).");
        }

        return new ServiceProcess(name, path, environment, new Uri(new Uri(Url(name)), Deployment.Current[service].Health));
    }

    private string Url(string port) => $"http://127.0.0.1:{_ports[port]}";

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>
    /// A port free now, for a service to bind a moment later. Drawn at random below Linux's ephemeral range
    /// (32768–60999), where the OS would otherwise hand the same port to an outgoing connection in between — a
    /// loaded machine makes plenty — and never twice in this process.
    /// </summary>
    public static int FreePort()
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
        await StopServicesAsync();

        // Now that no service holds them. Logged, not thrown: the chaos tests may have left their servers down.
        await using var leftovers = new TestResources(problem => Console.Error.WriteLine($"Suite: {problem}"));
        leftovers.AddDatabase(PostgresConnectionString);
        leftovers.AddVirtualHost(RabbitMq, VirtualHost);
        leftovers.AddBrokerUsers(RabbitMq, VirtualHost);
        if (OwnMediaDirectory is { } media)
        {
            leftovers.AddDirectory(media);
        }
    }

    // The scheduling service's media folder if the suite made it up, not a folder a caller configured.
    private string? OwnMediaDirectory =>
        _environments.TryGetValue("scheduling", out var scheduling) && scheduling.TryGetValue("Media__Directory", out string? media)
            && Path.GetFileName(media).StartsWith("sp-e2e-media-", StringComparison.Ordinal) ? media : null;
}

/// <summary>deploy/services.json, the one description of the deployment (see deploy/README.md).</summary>
public sealed class Deployment
{
    public sealed record Listener(string Name, int Port);

    /// <summary>A setting that points at another process's listener, e.g. publisher's Scheduling:GrpcUrl at scheduling.Grpc.</summary>
    public sealed record Target(string Service, string Listener);

    public sealed record Service(string Name, string Project, string Assembly, string Health,
        IReadOnlyList<Listener> Listeners, IReadOnlyList<string> Settings, IReadOnlyDictionary<string, Target> Wiring)
    {
        public string ProjectDirectory => Path.GetDirectoryName(Project)!;

        public int IndexOf(string listener)
        {
            for (int i = 0; i < Listeners.Count; i++)
            {
                if (Listeners[i].Name == listener)
                {
                    return i;
                }
            }

            throw new ArgumentException($"{Name} has no listener {listener} in deploy/services.json.", nameof(listener));
        }

        /// <summary>Every setting a deployment must give it: its settings and its wiring.</summary>
        public IEnumerable<string> RequiredSettings => Settings.Concat(Wiring.Keys);
    }

    public required IReadOnlyList<Service> Services { get; init; }

    /// <summary>The settings whose values are secret, with what each must be.</summary>
    public required IReadOnlyDictionary<string, string> Secrets { get; init; }

    public Service this[string name] => Services.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"No service '{name}' in deploy/services.json.", nameof(name));

    public static string FilePath => System.IO.Path.Combine(Suite.RepoRoot, "deploy", "services.json");

    public static readonly Deployment Current = Load(FilePath);

    /// <summary>A setting as an environment variable name: <c>Credentials:Key</c> is <c>Credentials__Key</c>.</summary>
    public static string EnvironmentKey(string setting) => setting.Replace(":", "__", StringComparison.Ordinal);

    public static string ListenerKey(string listener) => $"Kestrel__Endpoints__{listener}__Url";

    public static Deployment Load(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var root = document.RootElement;
        var services = new List<Service>();
        foreach (var service in root.GetProperty("services").EnumerateObject())
        {
            var value = service.Value;
            services.Add(new Service(
                service.Name,
                value.GetProperty("project").GetString()!,
                value.GetProperty("assembly").GetString()!,
                value.GetProperty("health").GetString()!,
                value.GetProperty("listeners").EnumerateObject().Select(l => new Listener(l.Name, l.Value.GetInt32())).ToList(),
                value.GetProperty("settings").EnumerateArray().Select(v => v.GetString()!).ToList(),
                value.GetProperty("wiring").EnumerateObject().ToDictionary(w => w.Name, w =>
                {
                    string[] parts = w.Value.GetString()!.Split('.');
                    return new Target(parts[0], parts[1]);
                })));
        }

        return new Deployment
        {
            Services = services,
            Secrets = root.GetProperty("secrets").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
        };
    }
}
