using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ScheduledPosts.ServiceDefaults.Outbound;

/// <summary>Wiring of the <see cref="OutboundPolicy"/>: the policy itself, and the HTTP clients that obey it.</summary>
public static class OutboundHttp
{
    /// <summary>
    /// Binds <see cref="OutboundOptions"/> from the <c>Outbound</c> section (validated at start-up) and registers the
    /// <see cref="OutboundPolicy"/> and <see cref="OutboundConnector"/> built from it.
    /// </summary>
    public static IServiceCollection AddOutboundPolicy(this IServiceCollection services)
    {
        services.AddOptions<OutboundOptions>()
            .BindConfiguration(OutboundOptions.Section)
            .Validate(o => OutboundPolicy.AreValidNetworks(o.AllowedNetworks), "Outbound:AllowedNetworks entries must be CIDR networks, e.g. 10.20.0.0/16.")
            .ValidateOnStart();
        return services.AddOutboundPolicy(sp => sp.GetRequiredService<IOptions<OutboundOptions>>().Value);
    }

    /// <summary>Registers the <see cref="OutboundPolicy"/> (and its connector) with options from elsewhere, e.g. the webhooks' section.</summary>
    public static IServiceCollection AddOutboundPolicy(this IServiceCollection services, Func<IServiceProvider, OutboundOptions> options)
    {
        services.AddSingleton(sp => new OutboundPolicy(options(sp)));
        services.AddSingleton<OutboundConnector>();
        return services;
    }

    /// <summary>
    /// The client's primary handler obeys the <see cref="OutboundPolicy"/>: it connects only to allowed addresses (checked
    /// on each connection, after resolving), never follows a redirect (a 3xx comes back as the response, for the caller
    /// to treat as a failure), and uses no proxy (so the check sees the real target) and no cookies.
    /// </summary>
    public static IHttpClientBuilder UseOutboundPolicy(this IHttpClientBuilder builder)
        => builder.ConfigurePrimaryHttpMessageHandler(sp => new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            ConnectCallback = sp.GetRequiredService<OutboundConnector>().ConnectAsync,
        });
}
