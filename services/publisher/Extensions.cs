using MassTransit;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.Sandbox;
using ScheduledPosts.Publisher.Consumers;
using ScheduledPosts.Publisher.Publishing;
using ScheduledPosts.ServiceDefaults.Bus;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Publisher;

public static class Extensions
{
    /// <summary>The scheduling service knows the publisher by this identity.</summary>
    public static readonly InternalIdentity Identity = InternalIdentity.Service("publisher");

    public static IHostApplicationBuilder AddPublisherServices(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;

        services.AddOptions<SchedulingOptions>()
            .BindConfiguration(SchedulingOptions.Section)
            .Validate(o => o.CallTimeout > TimeSpan.Zero, "Scheduling:CallTimeout must be positive.")
            .Validate(o => o.CompleteRetries >= 0 && o.CompleteRetryDelay >= TimeSpan.Zero, "Scheduling:CompleteRetries and CompleteRetryDelay must not be negative.")
            .ValidateOnStart();
        services.AddGrpcClient<Targets.TargetsClient>((provider, o) => o.Address = provider.GetRequiredService<IOptions<SchedulingOptions>>().Value.GrpcUrl)
            .AddHttpMessageHandler(provider => new InternalIdentityHandler(provider.GetRequiredService<InternalIdentityCodec>(), Identity));

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
        services.AddTransient<IConnector>(provider => provider.GetRequiredService<SandboxConnector>());
        services.AddScoped<ConnectorRegistry>();
        services.AddScoped<TargetPublisher>();

        services.AddOptions<ConsumerOptions>()
            .BindConfiguration(ConsumerOptions.Section)
            .Validate(o => o.ConcurrentMessageLimit > 0, "Publisher:ConcurrentMessageLimit must be positive.")
            .ValidateOnStart();
        services.AddRabbitMqBus(builder.Configuration, x => x.AddConsumer<TargetDueConsumer, TargetDueConsumerDefinition>());
        return builder;
    }
}
