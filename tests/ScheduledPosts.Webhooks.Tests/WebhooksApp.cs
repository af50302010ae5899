using System.Collections.Concurrent;
using System.Net;
using Dapper;
using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;
using ScheduledPosts.Webhooks.Endpoints;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>
/// The webhooks service on a fresh database and RabbitMQ vhost, one per test class, started and ready
/// (database and broker answering /readyz). Requests carry the internal identity the gateway would add.
/// It can be stopped and started again on the same database and vhost, as a restart of the service.
/// </summary>
public abstract class WebhooksApp : IAsyncLifetime, IAsyncDisposable
{
    public static readonly string[] AllScopes = [EndpointRegistry.ReadScope, EndpointRegistry.WriteScope];

    /// <summary>A key for encrypting secrets at rest in the tests that configure one.</summary>
    public const string TestSecretKey = "/2+v2aFIeng6YOFYUVlIjqN0HZQLnvLFj5gGXN7/Nfs=";

    private WebApplicationFactory<EndpointRegistry>? _factory;
    private (RabbitMqServer Server, string VirtualHost) _rabbit;
    private readonly TestResources _resources = new();

    public WebApplicationFactory<EndpointRegistry> Factory => _factory ?? throw new InvalidOperationException("Not started.");

    public string ConnectionString { get; private set; } = "";

    /// <summary>Counts consumed <see cref="PostEvent"/>s and <see cref="AccountEvent"/>s by event id, so a test can wait for a redelivery to have been handled.</summary>
    public ConsumedEvents Consumed { get; } = new();

    /// <summary>Every log line the service wrote, at every level, when <see cref="CaptureLogs"/>.</summary>
    public CapturedLogs Logs { get; } = new();

    protected abstract IReadOnlyDictionary<string, string> Settings { get; }

    protected virtual bool CaptureLogs => false;

    public async Task InitializeAsync()
    {
        ConnectionString = await _resources.CreateDatabaseAsync();
        _rabbit = await _resources.CreateVirtualHostAsync();
        await StartAsync();
    }

    /// <summary>Starts the service (again) on this app's database and vhost, and waits until it is ready.</summary>
    public async Task StartAsync()
    {
        // MassTransit keeps its log context (holding the host's logger factory) in an AsyncLocal, which would flow
        // from a stopped host into the next one started here: start each host from a clean execution context.
        Task starting;
        using (ExecutionContext.SuppressFlow())
        {
            starting = Task.Run(StartHostAsync);
        }

        await starting;
    }

    private async Task StartHostAsync()
    {
        var (rabbit, vhost) = _rabbit;
        _factory = new WebApplicationFactory<EndpointRegistry>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:Postgres", ConnectionString);
            web.UseSetting("RabbitMq:Host", rabbit.Host);
            web.UseSetting("RabbitMq:Port", rabbit.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            web.UseSetting("RabbitMq:VirtualHost", vhost);
            web.UseSetting("RabbitMq:Username", rabbit.Username);
            web.UseSetting("RabbitMq:Password", rabbit.Password);
            web.UseSetting("Internal:TrustedKeys:gateway", InternalKeys.Gateway.PublicPem);
            // Tests that want encryption at rest set a key; the rest run without one, as a fresh install does.
            web.UseSetting("Webhooks:SecretKey", "");
            foreach (var (key, value) in Settings)
            {
                web.UseSetting(key, value);
            }

            if (CaptureLogs)
            {
                web.ConfigureLogging(logging => logging.AddProvider(Logs).AddFilter<CapturedLogs>(null, LogLevel.Trace));
            }

            // Start-up returns once the consumer's queue is bound, so nothing published by a test is lost.
            web.ConfigureServices(services => services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true));
        });

        using var http = _factory.CreateClient();
        await Eventually.Until(async () => (await http.GetAsync("/readyz")).StatusCode, s => s == HttpStatusCode.OK,
            TimeSpan.FromSeconds(60), "/readyz");
        _factory.Services.GetRequiredService<IBus>().ConnectConsumeObserver(Consumed);
    }

    /// <summary>Stops the service gracefully, as a deployment or a crash-free restart would.</summary>
    public async Task StopAsync()
    {
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
            _factory = null;
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            await _resources.DisposeAsync();
        }
    }

    async ValueTask IAsyncDisposable.DisposeAsync()
    {
        await DisposeAsync();
        GC.SuppressFinalize(this);
    }

    public static string NewWorkspace() => Ids.New("ws");

    /// <summary>The header of a gRPC call's metadata that names the workspace <see cref="GrpcHandler"/> signs the call for.</summary>
    public const string WorkspaceMetadata = "x-test-workspace";

    public static InternalIdentity IdentityFor(string workspaceId, params string[] scopes)
        => new(workspaceId, "key_test", scopes.Length > 0 ? scopes : AllScopes);

    /// <summary>A client as the gateway would call the service for an API key of <paramref name="workspaceId"/>: each request signed for itself.</summary>
    public HttpClient ClientFor(string workspaceId, params string[] scopes)
        => Factory.CreateDefaultClient(new InternalIdentityHandler(InternalKeys.GatewayIssuer, IdentityFor(workspaceId, scopes), Extensions.Audience));

    /// <summary>
    /// The handler of a gRPC channel to the service: it signs each call, as the gateway would, for the workspace its
    /// <c>x-test-workspace</c> metadata names (<see cref="As"/>); a call without it goes unsigned.
    /// </summary>
    public HttpMessageHandler GrpcHandler() => new WorkspaceSigner(Factory.Server.CreateHandler());

    /// <summary>Call metadata that has <see cref="GrpcHandler"/> sign the call for <paramref name="workspaceId"/>.</summary>
    public static global::Grpc.Core.Metadata As(string workspaceId) => new() { { WorkspaceMetadata, workspaceId } };

    private sealed class WorkspaceSigner(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Headers.TryGetValues(WorkspaceMetadata, out var workspace))
            {
                request.Headers.Remove(WorkspaceMetadata);
                request.Headers.Add(InternalIdentity.Header, InternalKeys.FromGateway(IdentityFor(workspace.Single()), Extensions.Audience,
                    request.Method.Method, request.RequestUri!.AbsolutePath));
            }

            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>Publishes as the scheduling service does: the concrete event type, which MassTransit routes to <see cref="PostEvent"/>.</summary>
    public Task PublishAsync(PostEvent e) => Factory.Services.GetRequiredService<IBus>().Publish((object)e);

    /// <summary>Publishes as the scheduling service does: the concrete event type, which MassTransit routes to <see cref="AccountEvent"/>.</summary>
    public Task PublishAsync(AccountEvent e) => Factory.Services.GetRequiredService<IBus>().Publish((object)e);

    public async Task<T> QuerySingleAsync<T>(string sql, object? parameters = null)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        return await connection.QuerySingleAsync<T>(sql, parameters);
    }

    public async Task<IReadOnlyList<T>> QueryAsync<T>(string sql, object? parameters = null)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        return [.. await connection.QueryAsync<T>(sql, parameters)];
    }

    public sealed class ConsumedEvents : IConsumeObserver
    {
        private readonly ConcurrentDictionary<string, int> _counts = new();

        public int Count(string eventId) => _counts.GetValueOrDefault(eventId);

        public Task PreConsume<T>(ConsumeContext<T> context) where T : class => Task.CompletedTask;

        /// <summary>Counts each event consumed; a <see cref="PostEventBatch"/> counts once for each event it carries.</summary>
        public Task PostConsume<T>(ConsumeContext<T> context) where T : class
        {
            string?[] eventIds = context.TryGetMessage<PostEventBatch>(out var batch)
                ? [.. batch.Message.Events.Select(e => e.EventId)]
                : [EventId(context.Message)];
            foreach (string eventId in eventIds.OfType<string>())
            {
                _counts.AddOrUpdate(eventId, 1, (_, n) => n + 1);
            }

            return Task.CompletedTask;
        }

        /// <summary>Why the consumer refused an event, by event id (the last reason).</summary>
        public string? Fault(string eventId) => _faults.GetValueOrDefault(eventId);

        private readonly ConcurrentDictionary<string, string> _faults = new();

        public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception) where T : class
        {
            if (EventId(context.Message) is { } eventId)
            {
                _faults[eventId] = exception.Message;
            }

            return Task.CompletedTask;
        }

        private static string? EventId(object message) => message switch
        {
            PostEvent e => e.EventId,
            AccountEvent e => e.EventId,
            _ => null,
        };
    }

    public sealed class CapturedLogs : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public IReadOnlyList<string> Lines => [.. _lines];

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
        }
    }
}

/// <summary>Production rules: https only, no private or loopback targets but the allow-listed 10.99.0.0/16.</summary>
public sealed class StrictWebhooksApp : WebhooksApp
{
    protected override IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>
    {
        ["Webhooks:AllowHttp"] = "false",
        ["Webhooks:AllowLoopback"] = "false",
        ["Webhooks:AllowedNetworks:0"] = "10.99.0.0/16",
    };
}

/// <summary>
/// Deliveries to a local receiver: http and loopback allowed, two retries after 200 ms each, secrets encrypted
/// at rest, every log line captured.
/// </summary>
public sealed class DeliveringWebhooksApp : WebhooksApp
{
    protected override IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>
    {
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowLoopback"] = "true",
        ["Webhooks:RetrySchedule:0"] = "00:00:00.200",
        ["Webhooks:RetrySchedule:1"] = "00:00:00.200",
        ["Webhooks:RequestTimeout"] = "00:00:05",
        ["Webhooks:SecretKey"] = TestSecretKey,
    };

    protected override bool CaptureLogs => true;
}
