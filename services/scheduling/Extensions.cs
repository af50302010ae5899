using Microsoft.Extensions.Options;
using ScheduledPosts.Scheduling.Accounts;
using ScheduledPosts.Scheduling.Accounts.OAuth;
using ScheduledPosts.Scheduling.Api;
using ScheduledPosts.Scheduling.Dialects.Layers;
using ScheduledPosts.Scheduling.Dialects.PostPost;
using ScheduledPosts.Scheduling.Dialects.Postbreeze;
using ScheduledPosts.Scheduling.Retention;
using ScheduledPosts.Scheduling.Grpc;
using ScheduledPosts.Scheduling.Media;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.Scheduling.Queues;
using ScheduledPosts.Scheduling.Publishing;
using ScheduledPosts.Scheduling.Outbox;
using ScheduledPosts.Scheduling.Watch;
using ScheduledPosts.ServiceDefaults.Messaging;
using ScheduledPosts.ServiceDefaults.Data;
using ScheduledPosts.ServiceDefaults.Outbound;
using ScheduledPosts.ServiceDefaults.Health;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling;

public static class Extensions
{
    public const string Schema = "scheduling";

    /// <summary>The audience of the internal identity tokens meant for this service (the gateway's cluster id).</summary>
    public const string Audience = "scheduling";

    public static IHostApplicationBuilder AddSchedulingServices(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddPostgres(builder.Configuration, Schema);
        services.AddPostgresPool(PublishingOptions.Pool, provider => provider.GetRequiredService<IOptions<PublishingOptions>>().Value.PoolSize);
        services.AddRabbitMqBus(builder.Configuration);
        services.AddGrpcServerDefaults()
            .AddIdempotency<PostsGrpcService>()
            .AddIdempotency<SocialAccountsGrpcService>()
            .AddIdempotency<SettingsGrpcService>();
        // The gateway forwards the API's callers; the publisher calls Targets with its own key pair.
        builder.AddInternalIdentity(Audience, InternalIssuers.Gateway, InternalIssuers.Publisher);

        services.AddOptions<PostOptions>().BindConfiguration(PostOptions.Section).ValidateOnStart();
        services.AddOptions<PublishingOptions>().BindConfiguration(PublishingOptions.Section)
            .Validate(o => o.PoolSize > 0, "Publishing:PoolSize must be positive.").ValidateOnStart();
        services.AddOptions<DispatcherOptions>().BindConfiguration(DispatcherOptions.Section)
            .Validate(o => o.IsValid(), "Dispatcher: BatchSize, InFlightPerWorkspace and every interval must be positive.").ValidateOnStart();

        services.AddOptions<MediaOptions>().BindConfiguration(MediaOptions.Section)
            .Validate(o => o.MaxBytes > 0, "Media:MaxBytes must be positive.")
            .Validate(o => o.MaxRequestBytes > o.MaxBytes, "Media:MaxRequestBytes must be larger than Media:MaxBytes.")
            .Validate(o => o.WorkspaceQuotaBytes >= 0, "Media:WorkspaceQuotaBytes must be zero (unlimited) or positive.").ValidateOnStart();
        services.AddOptions<RetentionOptions>().BindConfiguration(RetentionOptions.Section)
            .Validate(o => o.SentOutbox > TimeSpan.Zero && o.UnattachedMedia > TimeSpan.Zero && o.Interval > TimeSpan.Zero,
                "Retention:SentOutbox, Retention:UnattachedMedia and Retention:Interval must be positive.")
            .Validate(o => o.AuditEntries >= TimeSpan.Zero, "Retention:AuditEntries must be zero (keep forever) or positive.")
            .Validate(o => o.IdempotencyKeys >= RetentionOptions.IdempotencyPromise,
                "Retention:IdempotencyKeys must be at least 24 h: the API replays an idempotent answer for 24 h.")
            .Validate(o => o.BatchSize is >= 1 and <= 100_000, "Retention:BatchSize must be between 1 and 100000.")
            .ValidateOnStart();

        services.AddOptions<CredentialOptions>().BindConfiguration(CredentialOptions.Section)
            .Validate(o => CredentialProtector.IsValidKey(o.Key), "Credentials:Key must be the base64 of 32 random bytes (e.g. `head -c 32 /dev/urandom | base64`).")
            .ValidateOnStart();
        services.AddSingleton<CredentialProtector>();
        services.AddSingleton<OutboxScheduler>();
        services.AddSingleton<WorkspaceSettings>();
        services.AddSingleton<IMediaStorage, LocalDirectoryMediaStorage>();
        services.AddSingleton<MediaLibrary>();
        services.AddSingleton<RetentionSweeper>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionSweeper>());
        services.AddSingleton<PostStore>();
        services.AddSingleton<PostContent>();
        services.AddSingleton<PostEvents>();
        services.AddSingleton<PostReader>();
        services.AddSingleton<PostCommands>();
        services.AddSingleton<PostBulk>();
        services.AddSingleton<PostingQueues>();
        services.AddSingleton<ClaimStore>();
        services.AddSingleton<PostTurns>();
        services.AddSingleton<TargetClaims>();
        services.AddSingleton<TargetRemovals>();
        // Where a Mastodon instanceUrl or a Bluesky service may point: checked when the account is connected; the publisher checks again when it connects.
        services.AddOutboundPolicy();
        services.AddSingleton<SocialAccounts>();
        // A Bluesky account's app password is checked by signing in at its PDS when it is connected, under the Outbound policy.
        services.AddHttpClient(BlueskySignIn.HttpClientName, http => http.Timeout = TimeSpan.FromSeconds(15)).UseOutboundPolicy();
        services.AddSingleton<BlueskySignIn>();
        services.AddOptions<OAuthOptions>().BindConfiguration(OAuthOptions.Section)
            .Validate(o => o.IsValid(), "OAuth: CallbackUrl must be an absolute http(s) URL; StateLifetime, RefreshInterval and Timeout positive; RefreshAhead not negative.")
            .ValidateOnStart();
        // The platforms' token and account endpoints are the deployment's choice (OAuth:Platforms), not a caller's; no redirects.
        services.AddHttpClient(OAuthConnections.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false });
        // The platforms whose accounts connect with OAuth; each needs its app configured (OAuth:Platforms:<platform>).
        services.AddSingleton<IOAuthPlatform, LinkedInPersonOAuth>();
        services.AddSingleton<IOAuthPlatform, LinkedInCompanyOAuth>();
        services.AddSingleton<IOAuthPlatform>(new FacebookOAuth());
        services.AddSingleton<IOAuthPlatform, XOAuth>();
        services.AddSingleton<OAuthPlatforms>();
        services.AddSingleton<OAuthConnections>();
        services.AddSingleton<OAuthTokens>();
        services.AddSingleton<TokenRefresher>();
        services.AddHostedService(sp => sp.GetRequiredService<TokenRefresher>());
        services.AddHostedService<Dispatcher>();
        services.AddSingleton<PickUps>();
        services.AddHostedService(sp => sp.GetRequiredService<PickUps>());
        services.AddHostedService<LeaseReaper>();

        // It watches itself: lag histograms, backlog gauges, and overdue targets on /readyz (docs/operations.md#self-watch).
        services.AddOptions<WatchOptions>().BindConfiguration(WatchOptions.Section)
            .Validate(o => o.IsValid(), "Watch:OverdueAfter, Watch:Interval and Watch:LagWindow must be positive; Watch:BrokerManagementUrl, when set, an absolute http(s) URL with Watch:BrokerManagementUsername and Watch:BrokerManagementPassword.")
            .ValidateOnStart();
        services.AddSingleton<SchedulingMetrics>();
        services.AddSingleton<BacklogWatch>();
        services.AddHostedService(sp => sp.GetRequiredService<BacklogWatch>());
        services.AddHealthChecks().AddCheck<OverdueHealthCheck>("overdue", tags: [Readiness.Watch]);
        services.AddSingleton<LagReader>();
        services.AddSingleton<BrokerQueues>();
        services.AddHttpClient(BrokerQueues.HttpClientName, http => http.Timeout = TimeSpan.FromSeconds(5));
        return builder;
    }

    public static WebApplication MapSchedulingEndpoints(this WebApplication app)
    {
        app.UseMiddleware<Idempotency>();
        app.MapPostsApi();
        app.MapLayersApi();
        app.MapPostPostApi();
        app.MapPostbreezeApi();
        app.MapMediaApi();
        app.MapSettingsApi();
        app.MapSocialAccountsApi();
        app.MapPlatformsApi();
        app.MapStatusApi();
        app.MapGrpcService<TargetsGrpcService>().RequireAuthorization(InternalPolicies.Targets);
        app.MapGrpcService<PostsGrpcService>();
        app.MapGrpcService<SocialAccountsGrpcService>();
        app.MapGrpcService<MediaGrpcService>();
        app.MapGrpcService<SettingsGrpcService>();
        app.MapGrpcServerDefaults();
        return app;
    }

    /// <summary>Applies the schema's migrations before the service takes traffic.</summary>
    public static async Task PrepareSchedulingAsync(this WebApplication app)
        => await Migrations.ApplyAsync(app.Services.GetRequiredService<Npgsql.NpgsqlDataSource>(), Schema,
            typeof(Extensions).Assembly, app.Logger, app.Lifetime.ApplicationStopping);
}
