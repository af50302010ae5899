using Grpc.Core;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Client;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Contracts.Webhooks.V1;

namespace Microsoft.Extensions.DependencyInjection;

public static class ScheduledPostsClientExtensions
{
    /// <summary>
    /// Registers the typed clients of the gateway's gRPC port — <see cref="Posts.PostsClient"/>,
    /// <see cref="SocialAccounts.SocialAccountsClient"/>, <see cref="Media.MediaClient"/>, <see cref="Settings.SettingsClient"/>,
    /// <see cref="WebhookEndpoints.WebhookEndpointsClient"/>,
    /// <see cref="WebhookDeliveries.WebhookDeliveriesClient"/> — through gRPC's client factory: every call carries the
    /// API key, gets <see cref="ScheduledPostsClientOptions.Deadline"/> unless it sets its own, and is retried by gRPC's
    /// retry policy when it fails <c>UNAVAILABLE</c>, with an <c>idempotency-key</c> on each call that changes something
    /// (<see cref="IdempotencyKeys"/>), so a retried create cannot create twice. The options are checked when the host starts (or when a client is
    /// first made): a missing address or key is an <see cref="OptionsValidationException"/> that says so.
    /// </summary>
    public static IServiceCollection AddScheduledPostsClient(this IServiceCollection services, Action<ScheduledPostsClientOptions> configure)
    {
        services.AddOptions<ScheduledPostsClientOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ScheduledPostsClientOptions>, ScheduledPostsClientOptionsValidator>());

        AddClient<Posts.PostsClient>(services);
        AddClient<SocialAccounts.SocialAccountsClient>(services);
        AddClient<Media.MediaClient>(services);
        AddClient<Settings.SettingsClient>(services);
        AddClient<WebhookEndpoints.WebhookEndpointsClient>(services);
        AddClient<WebhookDeliveries.WebhookDeliveriesClient>(services);
        return services;
    }

    private static void AddClient<TClient>(IServiceCollection services)
        where TClient : class
        => services
            .AddGrpcClient<TClient>((provider, factory) => factory.Address = Options(provider).Address)
            .ConfigureChannel((provider, channel) =>
            {
                var options = Options(provider);
                channel.ServiceConfig = RetryUnavailable(options);
                // The gateway's port is h2c by default; over https this changes nothing.
                channel.UnsafeUseInsecureChannelCallCredentials = options.Address!.Scheme == Uri.UriSchemeHttp;
            })
            .AddCallCredentials((_, metadata, provider) =>
            {
                metadata.Add("authorization", $"Bearer {Options(provider).ApiKey}");
                return Task.CompletedTask;
            })
            .AddInterceptor(provider => new DefaultDeadline(Options(provider).Deadline))
            .AddInterceptor(() => new IdempotencyKeys())
            // HttpClientFactory's trace logging prints request headers: never the key.
            .RedactLoggedHeaders(["authorization"]);

    private static ScheduledPostsClientOptions Options(IServiceProvider provider)
        => provider.GetRequiredService<IOptions<ScheduledPostsClientOptions>>().Value;

    private static ServiceConfig? RetryUnavailable(ScheduledPostsClientOptions options)
        => options.MaxAttempts < 2 ? null : new ServiceConfig
        {
            MethodConfigs =
            {
                new MethodConfig
                {
                    Names = { MethodName.Default },
                    RetryPolicy = new RetryPolicy
                    {
                        MaxAttempts = options.MaxAttempts,
                        InitialBackoff = options.InitialBackoff,
                        MaxBackoff = options.InitialBackoff > MaxBackoff ? options.InitialBackoff : MaxBackoff,
                        BackoffMultiplier = 2,
                        RetryableStatusCodes = { StatusCode.Unavailable },
                    },
                },
            },
        };

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);
}
