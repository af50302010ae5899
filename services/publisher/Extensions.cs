using Grpc.Net.Client;
using MassTransit;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.Bluesky;
using ScheduledPosts.Publisher.Connectors.LinkedIn;
using ScheduledPosts.Publisher.Connectors.Facebook;
using ScheduledPosts.Publisher.Connectors.Mastodon;
using ScheduledPosts.Publisher.Connectors.Sandbox;
using ScheduledPosts.Publisher.Connectors.X;
using ScheduledPosts.Publisher.Consumers;
using ScheduledPosts.Publisher.Publishing;
using ScheduledPosts.ServiceDefaults.Messaging;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Outbound;

namespace ScheduledPosts.Publisher;

public static class Extensions
{
    /// <summary>
    /// The scheduling service knows the publisher by this identity, signed with the publisher's own key pair: the
    /// <c>targets</c> scope, which only the publisher's issuer may state.
    /// </summary>
    public static readonly InternalIdentity Identity = InternalIdentity.Service(InternalIssuers.Publisher, InternalScopes.Targets);

    /// <summary>The audience of its calls: the scheduling service.</summary>
    public const string SchedulingAudience = "scheduling";

    /// <summary>The HttpClientFactory name of the handler under the scheduling service's gRPC channel.</summary>
    public const string SchedulingClient = "scheduling";

    public static IHostApplicationBuilder AddPublisherServices(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        builder.AddInternalTokenIssuer(InternalIssuers.Publisher);
        // Nobody calls the publisher: it trusts no issuer, so everything but its health probes answers 401.
        builder.AddInternalIdentity("publisher");

        services.AddOptions<SchedulingOptions>()
            .BindConfiguration(SchedulingOptions.Section)
            .Validate(o => o.CallTimeout > TimeSpan.Zero, "Scheduling:CallTimeout must be positive.")
            .Validate(o => o.CompleteRetries >= 0 && o.CompleteRetryDelay >= TimeSpan.Zero, "Scheduling:CompleteRetries and CompleteRetryDelay must not be negative.")
            .Validate(o => o.MaxPerCall is > 0 and <= 500 && o.CallsInFlight > 0,
                "Scheduling:MaxPerCall must be 1 to 500, Scheduling:CallsInFlight positive.")
            .ValidateOnStart();
        // One channel for the process, built once by the container. grpc-dotnet's client factory caches its channel with
        // ConcurrentDictionary.GetOrAdd, so the first calls of concurrent consumers could build two channels over one pooled
        // SocketsHttpHandler; one of them could then see the other's half-installed ConnectCallback, pick its passive
        // transport, and fail every call with NotSupportedException for the life of the process (seen once, at load 26).
        services.AddHttpClient(SchedulingClient)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { EnableMultipleHttp2Connections = true })
            .AddHttpMessageHandler(provider => new InternalIdentityHandler(provider.GetRequiredService<InternalTokenIssuer>(), Identity, SchedulingAudience));
        services.AddSingleton(provider => new Targets.TargetsClient(GrpcChannel.ForAddress(
            provider.GetRequiredService<IOptions<SchedulingOptions>>().Value.GrpcUrl,
            new GrpcChannelOptions
            {
                // The channel keeps this handler for good: a handler the factory retires is disposed only once unreferenced.
                HttpHandler = provider.GetRequiredService<IHttpMessageHandlerFactory>().CreateHandler(SchedulingClient),
                LoggerFactory = provider.GetRequiredService<ILoggerFactory>(),
            })));

        services.AddOptions<SandboxOptions>()
            .BindConfiguration(SandboxOptions.Section)
            .Validate(o => o.Timeout > TimeSpan.Zero, "Sandbox:Timeout must be positive.")
            .ValidateOnStart();
        services.AddHttpClient<SandboxConnector>((provider, http) =>
        {
            var options = provider.GetRequiredService<IOptions<SandboxOptions>>().Value;
            http.BaseAddress = options.BaseUrl;
            http.Timeout = options.Timeout;
        });
        services.AddOptions<MastodonOptions>()
            .BindConfiguration(MastodonOptions.Section)
            .Validate(o => o.Timeout > TimeSpan.Zero && o.MediaPollInterval > TimeSpan.Zero && o.MediaProcessingTimeout > TimeSpan.Zero,
                "Mastodon:Timeout, MediaPollInterval and MediaProcessingTimeout must be positive.")
            .ValidateOnStart();
        // Each account names its own instance, so the client has no base address. The instance is user-supplied: the client
        // connects only where the Outbound policy allows and follows no redirect (docs/security.md#outbound-requests).
        services.AddOutboundPolicy();
        services.AddHttpClient<MastodonConnector>((provider, http) => http.Timeout = provider.GetRequiredService<IOptions<MastodonOptions>>().Value.Timeout)
            .UseOutboundPolicy();
        services.AddOptions<BlueskyOptions>()
            .BindConfiguration(BlueskyOptions.Section)
            .Validate(o => o.Timeout > TimeSpan.Zero, "Bluesky:Timeout must be positive.")
            .ValidateOnStart();
        // Each account names its own PDS, as a Mastodon account its instance: the same policy, no redirects. The sessions
        // live as long as the process, so an app password is not exchanged again for every post.
        services.AddSingleton<BlueskySessions>();
        services.AddHttpClient<BlueskyConnector>((provider, http) => http.Timeout = provider.GetRequiredService<IOptions<BlueskyOptions>>().Value.Timeout)
            .UseOutboundPolicy();
        services.AddOptions<LinkedInOptions>()
            .BindConfiguration(LinkedInOptions.Section)
            .Validate(o => o.BaseUrl.IsAbsoluteUri && o.Timeout > TimeSpan.Zero && o.LookupDepth > 0, "LinkedIn:BaseUrl must be absolute, Timeout and LookupDepth positive.")
            .Validate(o => o.Version is { Length: 6 } v && v.All(char.IsAsciiDigit), "LinkedIn:Version must be a YYYYMM version.")
            .ValidateOnStart();
        // One client for both LinkedIn platforms; its image upload URLs are LinkedIn's to choose, so the same policy applies.
        services.AddHttpClient<LinkedInClient>((provider, http) => http.Timeout = provider.GetRequiredService<IOptions<LinkedInOptions>>().Value.Timeout)
            .UseOutboundPolicy();
        services.AddTransient<IConnector>(provider => new LinkedInConnector(Platforms.LinkedInPerson, provider.GetRequiredService<LinkedInClient>()));
        services.AddTransient<IConnector>(provider => new LinkedInConnector(Platforms.LinkedInCompany, provider.GetRequiredService<LinkedInClient>()));
        services.AddOptions<FacebookOptions>()
            .BindConfiguration(FacebookOptions.Section)
            .Validate(o => o.IsValid(), "Facebook: BaseUrl must be an absolute http(s) URL, GraphVersion like v26.0, Timeout and LookupPages positive.")
            .ValidateOnStart();
        // One host for every Page (graph.facebook.com unless configured): still under the Outbound policy, no redirects.
        services.AddHttpClient<FacebookConnector>((provider, http) => http.Timeout = provider.GetRequiredService<IOptions<FacebookOptions>>().Value.Timeout)
            .UseOutboundPolicy();
        services.AddOptions<XOptions>()
            .BindConfiguration(XOptions.Section)
            .Validate(o => o.BaseUrl.IsAbsoluteUri && o.Timeout > TimeSpan.Zero && o.MaxLookupPages > 0,
                "X:BaseUrl must be an absolute URL, X:Timeout and X:MaxLookupPages positive.")
            .ValidateOnStart();
        // One API host for every account; still through the Outbound policy, so a deployment that points it at a fake on
        // a private address must allow that address as it would a Mastodon instance's.
        services.AddHttpClient<XConnector>((provider, http) =>
        {
            var options = provider.GetRequiredService<IOptions<XOptions>>().Value;
            http.BaseAddress = options.BaseUrl;
            http.Timeout = options.Timeout;
        }).UseOutboundPolicy();
        services.AddTransient<IConnector>(provider => provider.GetRequiredService<SandboxConnector>());
        services.AddTransient<IConnector>(provider => provider.GetRequiredService<MastodonConnector>());
        services.AddTransient<IConnector>(provider => provider.GetRequiredService<BlueskyConnector>());
        services.AddTransient<IConnector>(provider => provider.GetRequiredService<FacebookConnector>());
        services.AddTransient<IConnector>(provider => provider.GetRequiredService<XConnector>());
        services.AddScoped<ConnectorRegistry>();

        services.AddOptions<UploadLimitsOptions>()
            .BindConfiguration(UploadLimitsOptions.Section)
            .Validate(o => o.IsValid(), "UploadLimits: ConcurrentUploadsPerAccount and every platform's bucket must be positive, MaxWait not negative.")
            .ValidateOnStart();
        services.AddSingleton<UploadLimits>();
        services.AddSingleton<TargetsBatcher>();
        services.AddScoped<TargetPublisher>();
        services.AddScoped<TargetUnpublisher>();
        services.AddSingleton<PublisherStopping>();

        services.AddOptions<ConsumerOptions>()
            .BindConfiguration(ConsumerOptions.Section)
            .Validate(o => o.ConcurrentMessageLimit > 0, "Publisher:ConcurrentMessageLimit must be positive.")
            .Validate(o => o.UploadGracePeriod > TimeSpan.Zero && o.ShutdownTimeout > o.UploadGracePeriod,
                "Publisher:UploadGracePeriod must be positive and shorter than Publisher:ShutdownTimeout.")
            .ValidateOnStart();
        // On SIGTERM the bus stops taking messages as soon as its hosted service stops (right after the web server's);
        // the uploads in flight get the grace period (PublisherStopping), then cancelling them hands their targets back,
        // within the host's shutdown timeout. MassTransit waits for them as long, and no longer than StopTimeout: also
        // when a broker connection drops, before its endpoints consume again. Without a ConsumerStopTimeout MassTransit
        // cancels consumers at once on some transports.
        services.AddOptions<MassTransitHostOptions>().Configure<IOptions<ConsumerOptions>>((o, consumer) =>
        {
            o.ConsumerStopTimeout = consumer.Value.UploadGracePeriod;
            o.StopTimeout = consumer.Value.ShutdownTimeout;
        });
        services.AddOptions<HostOptions>().Configure<IOptions<ConsumerOptions>>((o, consumer) => o.ShutdownTimeout = consumer.Value.ShutdownTimeout);
        // Before the bus (hosted services start in order): the first due targets after a start find the claim path warm.
        services.AddHostedService<ClaimPathWarmup>();
        services.AddRabbitMqBus(builder.Configuration, x =>
        {
            x.AddConsumer<TargetDueConsumer, TargetDueConsumerDefinition>();
            x.AddConsumer<TargetUnpublishDueConsumer, TargetUnpublishDueConsumerDefinition>();
        });
        return builder;
    }
}
