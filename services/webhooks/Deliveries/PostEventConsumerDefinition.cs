using MassTransit;

namespace ScheduledPosts.Webhooks.Deliveries;

public sealed class PostEventConsumerDefinition : ConsumerDefinition<PostEventConsumer>
{
    public PostEventConsumerDefinition()
    {
        Endpoint(e =>
        {
            // The service's own queue, so another service consuming PostEvent gets its own copy.
            e.Name = "webhooks-post-events";
            // Recording an event is two short database round trips: MassTransit's default (twice the cores, 4 here)
            // leaves the consumer waiting on the network, far below the 1,000 events/s it is to keep up with.
            e.ConcurrentMessageLimit = 32;
        });
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<PostEventConsumer> consumerConfigurator, IRegistrationContext context)
    {
        // Transient database trouble is retried in place; anything else goes to the error queue, kept.
        endpointConfigurator.UseMessageRetry(r =>
        {
            r.Intervals(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
            r.Handle<Npgsql.NpgsqlException>(e => e.IsTransient);
            r.Handle<TimeoutException>();
        });
    }
}
