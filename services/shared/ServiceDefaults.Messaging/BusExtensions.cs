using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.ServiceDefaults.Messaging;

public sealed class RabbitMqOptions
{
    public const string Section = "RabbitMq";

    public string Host { get; set; } = "localhost";
    public ushort Port { get; set; } = 5672;
    public string VirtualHost { get; set; } = "/";
    /// <summary>The service's own broker user (deploy/rabbitmq/permissions.tsv); no default, so none is guessed.</summary>
    public string Username { get; set; } = "";

    public string Password { get; set; } = "";
}

public static class BusExtensions
{
    /// <summary>
    /// MassTransit on RabbitMQ: durable queues (MassTransit's default), publisher confirms, error queues kept,
    /// endpoints from the registered consumers' definitions. MassTransit adds its own health check, tagged "ready".
    /// </summary>
    public static IServiceCollection AddRabbitMqBus(this IServiceCollection services, IConfiguration configuration,
        Action<IBusRegistrationConfigurator>? configure = null)
    {
        var options = configuration.GetSection(RabbitMqOptions.Section).Get<RabbitMqOptions>() ?? new RabbitMqOptions();
        services.AddMassTransit(x =>
        {
            x.SetKebabCaseEndpointNameFormatter();
            // MassTransit 8.5 otherwise reports usage telemetry to usage-tracking.masstransit.io: nothing leaves a
            // deployment that its operator did not choose to send (docs/security.md#outbound-requests).
            x.DisableUsageTelemetry();
            configure?.Invoke(x);
            x.UsingRabbitMq((context, cfg) =>
            {
                if (options.Username.Length == 0 || options.Password.Length == 0)
                {
                    throw new InvalidOperationException("RabbitMq:Username and RabbitMq:Password are not configured: each service connects as its own broker user.");
                }

                cfg.Host(options.Host, options.Port, options.VirtualHost, h =>
                {
                    h.Username(options.Username);
                    h.Password(options.Password);
                    h.PublisherConfirmation = true;
                });
                cfg.ConfigureJsonSerializerOptions(JsonDefaults.Configure);
                cfg.ConfigureEndpoints(context);
            });
        });
        return services;
    }
}
