using MassTransit;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>The endpoint and retry policy every consumer of domain events shares; each has its own queue.</summary>
public abstract class EventConsumerDefinition<TConsumer> : ConsumerDefinition<TConsumer>
    where TConsumer : class, IConsumer
{
    protected EventConsumerDefinition(string queue)
    {
        Endpoint(e =>
        {
            // The service's own queue, so another service consuming the same events gets its own copy.
            e.Name = queue;
            // The events taken at once are recorded together (EventIntake): MassTransit's default (twice the cores, 4
            // here) would leave each statement a few events, far below the thousands per second of a burst.
            e.ConcurrentMessageLimit = 128;
        });
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<TConsumer> consumerConfigurator, IRegistrationContext context)
    {
        // The database away — restarting, or failing over to a standby, when Npgsql's "no suitable host" is not IsTransient —
        // is retried in place for about a minute; anything else goes to the error queue, kept.
        endpointConfigurator.UseMessageRetry(r =>
        {
            r.Intervals(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30));
            r.Handle<Npgsql.NpgsqlException>(DatabaseOutage.Is);
            r.Handle<TimeoutException>();
        });
    }
}
