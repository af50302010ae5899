using MassTransit;

namespace ScheduledPosts.Webhooks.Deliveries;

public sealed class PostEventConsumerDefinition : ConsumerDefinition<PostEventConsumer>
{
    public PostEventConsumerDefinition()
    {
        // The service's own queue, so another service consuming PostEvent gets its own copy.
        EndpointName = "webhooks-post-events";
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
