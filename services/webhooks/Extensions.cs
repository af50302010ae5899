using MassTransit;
using Npgsql;
using Microsoft.Extensions.Options;
using ScheduledPosts.ServiceDefaults.Messaging;
using ScheduledPosts.ServiceDefaults.Data;
using ScheduledPosts.ServiceDefaults.Outbound;
using ScheduledPosts.Webhooks.Api;
using ScheduledPosts.Webhooks.Deliveries;
using ScheduledPosts.Webhooks.Endpoints;
using ScheduledPosts.Webhooks.Grpc;
using ScheduledPosts.Webhooks.Signing;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Webhooks;

public static class Extensions
{
    /// <summary>The audience of the internal identity tokens meant for this service (the gateway's cluster id).</summary>
    public const string Audience = "webhooks";

    /// <summary>The webhooks service: endpoints (REST and gRPC), the event consumers, the delivery sender, the retention sweeper.</summary>
    public static IHostApplicationBuilder AddWebhooksServices(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<WebhookOptions>()
            .BindConfiguration(WebhookOptions.Section)
            .Validate(o => o.RequestTimeout > TimeSpan.Zero && o.MaxConcurrentDeliveries > 0 && o.MaxIdle > TimeSpan.Zero,
                "Webhooks:RequestTimeout, MaxConcurrentDeliveries and MaxIdle must be positive.")
            .Validate(o => o.ClaimLease > o.RequestTimeout, "Webhooks:ClaimLease must be longer than Webhooks:RequestTimeout.")
            .Validate(o => o.RetrySchedule is null || o.RetrySchedule.All(d => d >= TimeSpan.Zero), "Webhooks:RetrySchedule delays must not be negative.")
            .Validate(o => o.MaxConcurrentPerEndpoint > 0 && o.InitialConcurrentPerEndpoint > 0 && o.MaxConcurrentPerWorkspace > 0 && o.SlowAnswerAfter > TimeSpan.Zero,
                "Webhooks:MaxConcurrentPerEndpoint, InitialConcurrentPerEndpoint, MaxConcurrentPerWorkspace and SlowAnswerAfter must be positive.")
            .Validate(o => o.SecretRotationOverlap >= TimeSpan.Zero && o.DisableAfterFailingFor > TimeSpan.Zero,
                "Webhooks:SecretRotationOverlap must not be negative and Webhooks:DisableAfterFailingFor must be positive.")
            .Validate(o => OutboundPolicy.AreValidNetworks(o.AllowedNetworks), "Webhooks:AllowedNetworks entries must be CIDR networks, e.g. 10.20.0.0/16.")
            .Validate(o => SecretProtector.IsValidKey(o.SecretKey), "Webhooks:SecretKey must be the base64 of 32 bytes (e.g. `openssl rand -base64 32`).")
            // Without a key, signing secrets are stored in plaintext: tolerable on a developer's machine, never in production.
            .Validate(o => !builder.Environment.IsProduction() || !string.IsNullOrEmpty(o.SecretKey),
                "Webhooks:SecretKey is required in Production, or endpoint signing secrets would be stored unencrypted.")
            .ValidateOnStart();

        services.AddOptions<WebhookRetentionOptions>().BindConfiguration(WebhookRetentionOptions.Section)
            .Validate(o => o.FinishedDeliveries > TimeSpan.Zero && o.Attempts > TimeSpan.Zero && o.EventsWithoutDeliveries > TimeSpan.Zero && o.Interval > TimeSpan.Zero,
                "Webhooks:Retention:FinishedDeliveries, Attempts, EventsWithoutDeliveries and Interval must be positive.")
            .Validate(o => o.BatchSize is >= 1 and <= 100_000, "Webhooks:Retention:BatchSize must be between 1 and 100000.")
            .ValidateOnStart();

        services.AddPostgres(builder.Configuration, WebhookOptions.Schema);
        services.AddRabbitMqBus(builder.Configuration, x =>
        {
            x.AddConsumer<PostEventConsumer, PostEventConsumerDefinition>();
            x.AddConsumer<AccountEventConsumer, AccountEventConsumerDefinition>();
        });
        services.AddGrpcServerDefaults()
            .AddIdempotency<WebhookEndpointsGrpcService>()
            .AddIdempotency<WebhookDeliveriesGrpcService>();
        // Only the gateway calls this service.
        builder.AddInternalIdentity(Audience, InternalIssuers.Gateway);

        services.AddOutboundPolicy(sp => sp.GetRequiredService<IOptions<WebhookOptions>>().Value.ToOutboundOptions());
        services.AddSingleton<SecretProtector>();
        services.AddSingleton<EndpointRegistry>();
        services.AddSingleton<DeliveryHistory>();
        services.AddSingleton<DeliveryStore>();
        services.AddSingleton<EventIntake>();
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<WebhookOptions>>().Value;
            return new EndpointConcurrency(o.InitialConcurrentPerEndpoint, o.MaxConcurrentPerEndpoint, o.SlowAnswerAfter);
        });
        services.AddSingleton<DeliveryNotifications>();
        services.AddHostedService(sp => sp.GetRequiredService<DeliveryNotifications>());
        services.AddHostedService<DeliverySender>();
        services.AddSingleton<DeliveryMetrics>();
        services.AddHostedService(sp => sp.GetRequiredService<DeliveryMetrics>());
        services.AddSingleton<RetentionSweeper>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionSweeper>());

        services.AddHttpClient(DeliverySender.HttpClientName, (sp, client) =>
            {
                client.Timeout = sp.GetRequiredService<IOptions<WebhookOptions>>().Value.RequestTimeout;
                client.DefaultRequestHeaders.UserAgent.ParseAdd("ScheduledPosts-Webhooks/1.0");
            })
            // Connects only where the policy allows; a redirect is not followed (the 3xx is the attempt's status code).
            .UseOutboundPolicy();
        return builder;
    }

    /// <summary>The REST and gRPC endpoints of webhook endpoints and deliveries.</summary>
    public static WebApplication MapWebhooksEndpoints(this WebApplication app)
    {
        app.MapWebhookEndpointsApi();
        app.MapStatusApi();
        app.MapGrpcService<WebhookEndpointsGrpcService>();
        app.MapGrpcService<WebhookDeliveriesGrpcService>();
        app.MapGrpcServerDefaults();
        return app;
    }

    /// <summary>Migrations, then encrypting any signing secret still stored in the clear; before the service takes traffic.</summary>
    public static async Task PrepareWebhooksAsync(this WebApplication app)
    {
        await Migrations.ApplyAsync(app.Services.GetRequiredService<NpgsqlDataSource>(), WebhookOptions.Schema,
            typeof(Extensions).Assembly, app.Logger, app.Lifetime.ApplicationStopping);
        await app.Services.GetRequiredService<EndpointRegistry>().ProtectStoredSecretsAsync(app.Lifetime.ApplicationStopping);
    }
}
