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

    /// <summary>
    /// The nodes of a RabbitMQ cluster, each <c>host</c> or <c>host:port</c> (Port when it has none). When set, the bus
    /// connects to one of them and moves to another when that one goes away; Host is not used.
    /// </summary>
    public string[] Hosts { get; set; } = [];

    /// <summary>
    /// Receive endpoints as quorum queues, replicated over the cluster's nodes (a single node hosts them too). A queue's
    /// type cannot change in place: docs/operations.md says how to move a deployment off classic queues. Off by default
    /// until graceful shutdown is proven on them (docs/operations.md#clustered-rabbitmq).
    /// </summary>
    public bool QuorumQueues { get; set; }

    public string VirtualHost { get; set; } = "/";
    /// <summary>The service's own broker user (deploy/rabbitmq/permissions.tsv); no default, so none is guessed.</summary>
    public string Username { get; set; } = "";

    public string Password { get; set; } = "";
}

public static class BusExtensions
{
    /// <summary>
    /// MassTransit on RabbitMQ: durable queues, quorum queues with <see cref="RabbitMqOptions.QuorumQueues"/>, publisher confirms,
    /// error queues kept, endpoints from the registered consumers' definitions, one node or a cluster's list of them.
    /// MassTransit adds its own health check, tagged "ready".
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
            if (options.QuorumQueues)
            {
                x.AddRabbitMqConfigureEndpointsCallback((_, _, endpoint) => endpoint.SetQuorumQueue());
            }

            x.UsingRabbitMq((context, cfg) =>
            {
                if (options.Username.Length == 0 || options.Password.Length == 0)
                {
                    throw new InvalidOperationException("RabbitMq:Username and RabbitMq:Password are not configured: each service connects as its own broker user.");
                }

                // With a list, the bus's address names its first node (without the port, which an address may not carry there).
                cfg.Host(options.Hosts.Length > 0 ? options.Hosts[0].Split(':')[0] : options.Host, options.Port, options.VirtualHost, h =>
                {
                    h.Username(options.Username);
                    h.Password(options.Password);
                    h.PublisherConfirmation = true;
                    if (options.Hosts.Length > 0)
                    {
                        h.UseCluster(c =>
                        {
                            foreach (string node in options.Hosts)
                            {
                                c.Node(node);
                            }
                        });
                    }
                });
                cfg.ConfigureJsonSerializerOptions(JsonDefaults.Configure);
                cfg.ConfigureEndpoints(context);
            });
        });
        return services;
    }
}
