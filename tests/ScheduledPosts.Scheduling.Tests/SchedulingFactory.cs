using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Grpc.Net.Client;
using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// The scheduling service in a test host over a fresh database and RabbitMQ virtual host, plus a separate
/// bus connection that records every <see cref="TargetDue"/> the dispatcher sends — standing in for the publisher.
/// </summary>
public class SchedulingFactory : WebApplicationFactory<Posts.PostCommands>, IAsyncLifetime
{
    public const string Workspace = "ws_test";
    private readonly Dictionary<string, string> _settings = [];
    private readonly TestResources _resources = new();
    private IBusControl? _probe;

    /// <summary>Lets a test class change the service's settings before it starts.</summary>
    protected virtual void Configure(Dictionary<string, string> settings)
    {
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
    }

    public string ConnectionString { get; private set; } = "";

    /// <summary>The broker and this factory's own virtual host on it.</summary>
    public (RabbitMqServer Server, string VirtualHost) Broker { get; private set; }

    public string MediaDirectory { get; } = Path.Combine(Path.GetTempPath(), $"sp-media-{Guid.NewGuid():N}");

    /// <summary>Every TargetDue received, with the moment it arrived.</summary>
    public ConcurrentQueue<(TargetDue Message, DateTimeOffset ReceivedAt)> Due { get; } = new();

    /// <summary>Every TargetUnpublishDue received (the removals unpublish asks the publisher for).</summary>
    public ConcurrentQueue<TargetUnpublishDue> UnpublishDue { get; } = new();

    /// <summary>Every domain event published through the outbox, as the webhooks service would receive it.</summary>
    public ConcurrentQueue<PostEvent> Events { get; } = new();

    /// <summary>Every account event published through the outbox (<c>account.reauth_required</c>).</summary>
    public ConcurrentQueue<AccountEvent> AccountEvents { get; } = new();

    /// <summary>The trace each TargetDue arrived in, by target id (MassTransit carries the context in the message headers).</summary>
    public ConcurrentDictionary<string, string?> DueTraces { get; } = new();

    /// <summary>Called for each TargetDue as it arrives (the race tests claim from here, like the publisher).</summary>
    public Func<TargetDue, Task>? OnDue { get; set; }

    public async Task InitializeAsync()
    {
        ConnectionString = await _resources.CreateDatabaseAsync();
        var (rabbit, vhost) = await _resources.CreateVirtualHostAsync();
        Broker = (rabbit, vhost);
        _settings["ConnectionStrings:Postgres"] = ConnectionString;
        _settings["RabbitMq:Host"] = rabbit.Host;
        _settings["RabbitMq:Port"] = rabbit.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _settings["RabbitMq:VirtualHost"] = vhost;
        _settings["RabbitMq:Username"] = rabbit.Username;
        _settings["RabbitMq:Password"] = rabbit.Password;
        _settings["Watch:BrokerManagementUrl"] = rabbit.ManagementUrl.ToString();
        _settings["Watch:BrokerManagementUsername"] = rabbit.Username;
        _settings["Watch:BrokerManagementPassword"] = rabbit.Password;
        _settings["Internal:TrustedKeys:gateway"] = InternalKeys.Gateway.PublicPem;
        _settings["Internal:TrustedKeys:publisher"] = InternalKeys.Publisher.PublicPem;
        _settings["Media:Directory"] = _resources.AddDirectory(MediaDirectory);
        _settings["Credentials:Key"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        _settings["Publishing:ReaperInterval"] = "00:00:00.200";
        // The probe below stands in for the publisher but claims nothing, so no message would ever leave a workspace's
        // share in flight: shares are FairDispatchTests' subject, unlimited elsewhere.
        _settings["Dispatcher:InFlightPerWorkspace"] = "1000000";
        Configure(_settings);
        _settings["Media:MaxBytes"] = (2 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture);

        _probe = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(rabbit.Host, (ushort)rabbit.Port, vhost, h =>
            {
                h.Username(rabbit.Username);
                h.Password(rabbit.Password);
            });
            cfg.ReceiveEndpoint("test-target-due", e => e.Handler<TargetDue>(async context =>
            {
                DueTraces[context.Message.TargetId] = System.Diagnostics.Activity.Current?.TraceId.ToHexString();
                Due.Enqueue((context.Message, DateTimeOffset.UtcNow));
                if (OnDue is { } onDue)
                {
                    await onDue(context.Message);
                }
            }));
            cfg.ReceiveEndpoint("test-target-unpublish-due", e => e.Handler<TargetUnpublishDue>(context =>
            {
                UnpublishDue.Enqueue(context.Message);
                return Task.CompletedTask;
            }));
            cfg.ReceiveEndpoint("test-post-events", e => e.Handler<PostEvent>(context =>
            {
                foreach (var postEvent in context.TryGetMessage<PostEventBatch>(out var batch) ? batch.Message.Events : [context.Message])
                {
                    Events.Enqueue(postEvent);
                }

                return Task.CompletedTask;
            }));
            cfg.ReceiveEndpoint("test-account-events", e => e.Handler<AccountEvent>(context =>
            {
                AccountEvents.Enqueue(context.Message);
                return Task.CompletedTask;
            }));
        });
        await _probe.StartAsync();
        _ = Server; // start the service
    }

    /// <summary>A client whose every request carries the identity the gateway would sign for it (an editor's scopes by default).</summary>
    public HttpClient Client(string workspace = Workspace, string keyId = "key_test", params string[] scopes)
        => CreateDefaultClient(new InternalIdentityHandler(InternalKeys.GatewayIssuer,
            new InternalIdentity(workspace, keyId, scopes.Length > 0 ? scopes : ["posts:read", "posts:write", "accounts:read", "accounts:write", "settings:read", "settings:write"]), Extensions.Audience));

    /// <summary>The Posts gRPC API as the gateway's callers would reach it with <paramref name="identity"/>.</summary>
    public Contracts.Scheduling.V1.Posts.PostsClient PostsClient(InternalIdentity identity) => new(Channel(identity));

    /// <summary>The SocialAccounts gRPC API as the gateway's callers would reach it with <paramref name="identity"/>.</summary>
    public Contracts.Scheduling.V1.SocialAccounts.SocialAccountsClient SocialAccountsClient(InternalIdentity identity) => new(Channel(identity));

    /// <summary>A channel to the service's gRPC APIs as the gateway's callers would reach them with <paramref name="identity"/>.</summary>
    public GrpcChannel Channel(InternalIdentity identity)
    {
        var handler = new InternalIdentityHandler(InternalKeys.GatewayIssuer, identity, Extensions.Audience) { InnerHandler = Server.CreateHandler() };
        return GrpcChannel.ForAddress(Server.BaseAddress, new GrpcChannelOptions { HttpHandler = handler });
    }

    /// <summary>The Targets gRPC API as the publisher calls it (its own key pair, its <c>targets</c> scope).</summary>
    public Targets.TargetsClient TargetsClient() => TargetsClient(InternalKeys.PublisherIssuer, InternalIdentity.Service(InternalIssuers.Publisher, InternalScopes.Targets));

    /// <summary>The Targets gRPC API as <paramref name="issuer"/> signing <paramref name="identity"/> calls it.</summary>
    public Targets.TargetsClient TargetsClient(InternalTokenIssuer issuer, InternalIdentity identity)
    {
        var handler = new InternalIdentityHandler(issuer, identity, Extensions.Audience) { InnerHandler = Server.CreateHandler() };
        var channel = GrpcChannel.ForAddress(Server.BaseAddress, new GrpcChannelOptions { HttpHandler = handler });
        return new Targets.TargetsClient(channel);
    }

    /// <summary>
    /// A one-target post due now, claimed as the publisher claims it (so <c>publishing</c>) and, when
    /// <paramref name="outcome"/> is <c>published</c> or <c>failed</c>, reported so; returns the post's id.
    /// </summary>
    public async Task<string> PostThroughClaimAsync(HttpClient client, string account, string? outcome = null)
    {
        var post = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow);
        string postId = post["id"]!.GetValue<string>();
        var targets = TargetsClient();
        var claim = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = postId, TargetId = post["targets"]![0]!["id"]!.GetValue<string>(), ScheduleVersion = 1 });
        Assert.True(claim.Claimed, claim.Reason);
        if (outcome is null)
        {
            return postId;
        }

        var report = new CompleteTargetRequest { TargetId = claim.Target.TargetId, LeaseToken = claim.Target.LeaseToken };
        if (outcome == Posts.TargetStatus.Published)
        {
            report.Published = new TargetPublished { ExternalPostId = "x" };
        }
        else
        {
            report.Failed = new TargetFailed { ErrorCode = "REJECTED", ErrorMessage = "The platform refused the post.", Retryable = false };
        }

        Assert.Equal(outcome, (await targets.CompleteTargetAsync(report)).PostStatus);
        return postId;
    }

    public static async Task<string> ConnectAccountAsync(HttpClient client, string handle = "alice")
    {
        var response = await client.PostAsJsonAsync("/v1/social-accounts", new { platform = "sandbox", handle });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    /// <summary>Creates a post through the REST API; returns its JSON.</summary>
    public static async Task<JsonObject> CreatePostAsync(HttpClient client, string[] accounts, DateTimeOffset? scheduledFor, string caption = "Hello", object? extra = null)
    {
        var body = new JsonObject
        {
            ["caption"] = caption,
            ["targets"] = new JsonArray(accounts.Select(a => (JsonNode)new JsonObject { ["socialAccountId"] = a }).ToArray()),
        };
        if (scheduledFor is { } due)
        {
            body["scheduledFor"] = Rfc3339(due);
        }

        var response = await client.PostAsJsonAsync("/v1/posts", body);
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    public static async Task<(System.Net.HttpStatusCode Status, JsonObject Body)> SendAsync(HttpClient client, HttpMethod method, string path, object? body = null, string? ifMatch = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        var response = await client.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? new JsonObject() : JsonNode.Parse(text)!.AsObject());
    }

    /// <summary>The values of a class of string constants, such as every post status of <see cref="Posts.PostStatus"/>.</summary>
    public static string[] Constants(Type type)
        => [.. type.GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static).Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!)];

    public static string ErrorCode(JsonObject body) => body["error"]!["code"]!.GetValue<string>();

    public static string Status(JsonObject post) => post["status"]!.GetValue<string>();

    public static string Rfc3339(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    public async Task DisposeAsyncCore()
    {
        try
        {
            if (_probe is not null)
            {
                await _probe.StopAsync();
            }

            await DisposeAsync();
        }
        finally
        {
            await _resources.DisposeAsync();
        }
    }

    Task IAsyncLifetime.DisposeAsync() => DisposeAsyncCore();
}
